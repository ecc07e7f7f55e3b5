import sys

from django.core.management.base import BaseCommand, CommandError

from projections import generations, verification


class Command(BaseCommand):
    help = (
        "Build NAME's read model from the log in throwaway tables and compare it with the live tables, "
        "row by row, at the same event. Prints the rows missing, extra or different (the first --show of "
        "each, and how many) and exits 1 if there are any, 0 if none. Run it after a skip, a restore or "
        "when a read model is suspect; the live tables are not touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--show", type=int, default=10, metavar="N", help="Rows of each kind to print (default 10).")

    def handle(self, *args, name, show, **options):
        try:
            result = verification.verify(name, keep=show)
        except (generations.CannotRebuild, LookupError) as error:
            raise CommandError(str(error.args[0])) from None
        for table in result.tables:
            counts = table.counts
            line = (f"{table.table}: {table.checked:,} rows compared; {counts['missing']:,} missing, "
                    f"{counts['extra']:,} extra, {counts['different']:,} different")
            self.stdout.write(self.style.WARNING(line) if table.drifted else line)
            key = ", ".join(table.key)
            for found in table.missing:
                self.stdout.write(f"  missing    ({key}) = {_shown(found)}: the log gives this row, the table lacks it")
            for found in table.extra:
                self.stdout.write(f"  extra      ({key}) = {_shown(found)}: the table has this row, the log does not give it")
            for found, columns in table.different:
                changes = "; ".join(f"{column}: {live!r} in the table, {log!r} from the log" for column, (live, log) in columns.items())
                self.stdout.write(f"  different  ({key}) = {_shown(found)}: {changes}")
        verdict = "drifted from" if result.drifted else "matches"
        self.stdout.write(f"{name} {verdict} the log at position {result.position}.")
        if result.drifted:
            sys.exit(1)


def _shown(key: tuple) -> str:
    return ", ".join(str(part) for part in key)
