from django.core.management.base import BaseCommand, CommandError

from webhooks.delivery import resume
from webhooks.models import Subscription
from webhooks.tasks import QUEUE, deliver


class Command(BaseCommand):
    help = "Resume a parked webhook subscription from the delivery it stopped at."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The subscription's name.")

    def handle(self, *args, name, **options):
        subscription = Subscription.objects.filter(name=name).first()
        if subscription is None:
            raise CommandError(f"No webhook subscription named {name!r}.")
        if subscription.status != Subscription.PARKED:
            raise CommandError(f"{name} is not parked.")
        resume(subscription)
        deliver.apply_async(args=[subscription.pk], queue=QUEUE)
        self.stdout.write(f"{name} resumed: it goes on with the delivery it stopped at ({subscription.parked_reason})")
