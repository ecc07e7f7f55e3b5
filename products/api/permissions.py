from rest_framework.permissions import BasePermission


class CanIssueProductCommands(BasePermission):
    """Holds the permission products.issue_product_commands (superusers hold every permission)."""

    message = "You do not have permission to issue product commands."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("products.issue_product_commands"))
