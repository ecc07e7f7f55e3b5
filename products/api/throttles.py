from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class CommandRateThrottle(UserRateThrottle):
    """Commands per user (or per address for anonymous callers), at COMMAND_THROTTLE_RATE."""

    scope = "commands"

    def get_rate(self):
        # Read at request time, so the rate follows the settings rather than import order.
        rate = settings.COMMAND_THROTTLE_RATE
        return None if rate.lower() in ("", "off", "none") else rate
