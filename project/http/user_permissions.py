"""A user's permissions in one plain statement, for the check that every command makes.

Django's ModelBackend reads them with two ORM queries (the user's own permissions, then its
groups'). Building those queries cost a command more CPU than storing its events did, and the
token lookup that comes before them another ORM query. Here the same permissions come from one
statement, written once, and the token authentication (project/http/authentication.py) reads
them in its own statement, so a command's authentication and permission check is one round
trip.

The answer is the set ModelBackend.get_all_permissions gives ("app_label.codename"), kept where
ModelBackend keeps it (`_perm_cache` on the user object, for the request), so `has_perm`,
`has_perms` and `get_all_permissions` read it as they always do.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import backends, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections

# Where ModelBackend.get_all_permissions keeps a user's permissions for the life of the object.
CACHE_ATTRIBUTE = "_perm_cache"


@cache
def permission_names_sql(user_id: str) -> str:
    """SELECT of the "app_label.codename" of every permission the user `user_id` (an SQL
    expression) holds, directly or through a group: a statement, or a subquery for ARRAY()."""
    user_model = get_user_model()
    own = user_model._meta.get_field("user_permissions")
    groups = user_model._meta.get_field("groups")
    of_group = Group._meta.get_field("permissions")
    return (
        f"SELECT ct.app_label || '.' || p.codename FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN ("
        f"SELECT {own.m2m_reverse_name()} FROM {own.m2m_db_table()} WHERE {own.m2m_column_name()} = {user_id}"
        f" UNION SELECT gp.{of_group.m2m_reverse_name()} FROM {of_group.m2m_db_table()} gp"
        f" JOIN {groups.m2m_db_table()} ug ON ug.{groups.m2m_reverse_name()} = gp.{of_group.m2m_column_name()}"
        f" WHERE ug.{groups.m2m_column_name()} = {user_id})"
    )


def permissions_of(user, using: str = DEFAULT_DB_ALIAS) -> set[str]:
    """What ModelBackend.get_all_permissions answers for an active user who is not a superuser."""
    with connections[using].cursor() as cursor:
        cursor.execute(permission_names_sql("%s"), [user.pk, user.pk])
        return {name for (name,) in cursor.fetchall()}


def remember(user, names: set[str]) -> None:
    """Keep `names` as the user's permissions for this object's life, as ModelBackend would."""
    setattr(user, CACHE_ATTRIBUTE, names)


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend, reading an active user's permissions in one statement.

    Superusers hold every permission: `User.has_perm` answers for them before asking a backend,
    and their full list still comes from ModelBackend itself.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None or user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, CACHE_ATTRIBUTE):
            remember(user_obj, permissions_of(user_obj, user_obj._state.db or DEFAULT_DB_ALIAS))
        return getattr(user_obj, CACHE_ATTRIBUTE)
