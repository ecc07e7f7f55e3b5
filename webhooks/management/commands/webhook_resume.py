from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Subscription
from webhooks.tasks import resume


class Command(BaseCommand):
    help = "Resume parked webhook subscriptions, each from the delivery it stopped at."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="+", metavar="name", help="A subscription's name.")

    def handle(self, *args, names, **options):
        found = {s.name: s for s in Subscription.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise CommandError(f"No webhook subscription named {', '.join(map(repr, unknown))}.")
        running = [name for name in names if found[name].status != Subscription.PARKED]
        if running:
            raise CommandError(f"Not parked: {', '.join(running)}. Nothing was resumed.")
        for name in names:
            subscription = found[name]
            resume(subscription)
            self.stdout.write(f"{name} resumed: it goes on with the delivery it stopped at "
                              f"({subscription.parked_reason})")
