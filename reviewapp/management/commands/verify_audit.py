"""``manage.py verify_audit``: exit status 0 only when the audit chain is intact."""

import sys
from typing import Any

from django.core.management.base import BaseCommand

from reviewapp.models import AuditEvent, AuditSeal
from reviewapp.services.audit import audit_verify
from reviewapp.services.audit_ops import verify_message


class Command(BaseCommand):
    help = (
        "Check the audit hash chain: every sealed event must be unchanged, none removed or "
        "inserted. Exit status 0 when intact; otherwise 1, naming the first bad event on stderr."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            self.stderr.write(verify_message(result))
            sys.exit(1)
        last = AuditSeal.objects.order_by("-last_event_id").values_list("last_event_id", flat=True)
        unsealed = AuditEvent.objects.filter(pk__gt=last.first() or 0).count()
        self.stdout.write(verify_message(result) + f" ({unsealed} not yet sealed)")
