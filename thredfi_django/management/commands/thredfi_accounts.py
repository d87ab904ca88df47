"""``manage.py thredfi_accounts``: each business's chart of accounts, and the accounts our lines
need that it lacks.

The codes our lines use are ``THREDFI['ACCOUNT_CODES']`` (the default per invoice/bill line)
and the keys of ``THREDFI['LEDGER_ACCOUNTS']``; a line naming a code its business lacks is
refused locally at push time. ``--create-missing`` creates the missing ones from their
``LEDGER_ACCOUNTS`` entry (name, type, subtype) with a stable external_id, so a repeat never
duplicates. Exits 1 while a needed code is missing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from thredfi_django import ledger
from thredfi_django.client import get_client
from thredfi_django.conf import thredfi_settings
from thredfi_django.exceptions import ThredfiError

from ._businesses import add_business_argument, business_states


def needed_codes() -> list[str]:
    """Every code the mapping names, in order, once."""
    codes = [*thredfi_settings.ACCOUNT_CODES.values(), *thredfi_settings.LEDGER_ACCOUNTS]
    return list(dict.fromkeys(str(code) for code in codes))


class Command(BaseCommand):
    help = (
        "List each business's Thredfi chart of accounts and the account codes our lines need "
        "that it lacks; --create-missing creates them (from THREDFI['LEDGER_ACCOUNTS']). "
        "Exits 1 while a needed code is missing."
    )

    def add_arguments(self, parser):
        add_business_argument(parser)
        parser.add_argument(
            "--create-missing", action="store_true",
            help="Create the needed accounts a business lacks.",
        )  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true",
            help="With --create-missing: show what would be created, create nothing.",
        )  # fmt: skip

    def handle(self, *args, business, create_missing, dry_run, **options):
        states = list(business_states(business).filter(remote_id__isnull=False))
        if not states:
            self.stdout.write("No business is in Thredfi yet.")
            return
        client, missing_total = get_client(), 0
        for n, state in enumerate(states, 1):
            remote_id = str(state.remote_id)
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"[{n}/{len(states)}] {state.label} ({remote_id})")
            )
            try:
                ledger.forget(remote_id)  # show what Thredfi holds now, not a cached copy
                accounts = ledger.chart(remote_id)
                for code, account in sorted(accounts.items()):
                    line = f"  {code:<8} {account['name']} ({account['account_type']})"
                    self.stdout.write(line)
                missing = [code for code in needed_codes() if code not in accounts]
                if missing and create_missing:
                    missing = self._create(client.business(remote_id), missing, dry_run)
                    ledger.forget(remote_id)
            except ThredfiError as err:
                message = f"Could not read or write {state.label}'s accounts: {err}"
                raise CommandError(message) from err
            for code in missing:
                self.stdout.write(self.style.ERROR(f"  ✗ missing {code}"))
            missing_total += len(missing)
        if missing_total:
            hint = "" if create_missing else " Run again with --create-missing to create them."
            raise CommandError(f"{missing_total} needed account(s) missing.{hint}")
        self.stdout.write(self.style.SUCCESS("Every business has the accounts our lines use."))

    def _create(self, scope, codes: list[str], dry_run: bool) -> list[str]:
        """Create ``codes``; returns those still missing (dry run, or no LEDGER_ACCOUNTS entry)."""
        left = []
        for code in codes:
            spec = thredfi_settings.LEDGER_ACCOUNTS.get(code)
            if spec is None:
                self.stdout.write(
                    self.style.WARNING(
                        f"  cannot create {code}: add THREDFI['LEDGER_ACCOUNTS'][{code!r}] = "
                        "{'name': ..., 'account_type': ...}"
                    )
                )
                left.append(code)
                continue
            body = {
                "code": code,
                "external_id": f"{thredfi_settings.EXTERNAL_ID_PREFIX}:"
                f"{thredfi_settings.EXTERNAL_ID_NAMESPACE}:account:{code}",
                **spec,
            }
            if dry_run:
                self.stdout.write(f"  would create {code} {spec['name']} ({spec['account_type']})")
                left.append(code)
                continue
            scope.accounts.create(body)
            self.stdout.write(
                self.style.SUCCESS(f"  ✓ created {code} {spec['name']} ({spec['account_type']})")
            )
        return left
