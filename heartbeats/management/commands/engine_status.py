"""What the heartbeat engine and the other duties are doing: who holds each duty (the engines' leases among
them), engines and their liveness, next beats due, recent errors."""

from collections import defaultdict
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import F, Q
from django.utils import timezone

from heartbeats.duties.report import FAILING, HELD, OFF, duty_states
from heartbeats.models import Beat, CountdownPolicy, EngineLiveness, Outcome


def _age(now, when) -> str:
    if when is None:
        return "-"
    seconds = (now - when).total_seconds()
    return f"{seconds:.1f} s ago" if seconds >= 0 else f"in {-seconds:.1f} s"


def _worker(e: EngineLiveness) -> tuple[str, str, int]:
    return (e.egress, e.host, e.pid)


def _worker_shifts(engines) -> dict[tuple[str, str, int], list[EngineLiveness]]:
    """Each worker process's cleanly stopped engines (its shifts, one engine each), latest first."""
    shifts = defaultdict(list)
    for e in engines:
        if e.stopping:
            shifts[_worker(e)].append(e)
    for group in shifts.values():
        group.sort(key=lambda e: e.seen_at, reverse=True)
    return shifts


class Command(BaseCommand):
    help = (
        "Show every duty and who holds it, the engines and their liveness, the next beats due and recent "
        "errors. "
        "Exits with status 2 when no engine is sending heartbeats."
    )

    def add_arguments(self, parser):
        parser.add_argument("--due", type=int, default=10, help="how many upcoming beats to list")
        parser.add_argument("--errors", type=int, default=10, help="how many recent failed attempts to list")
        parser.add_argument("--egress", help="only this egress identity")

    def handle(self, *args, **options):
        now = timezone.now()
        egress = options.get("egress")
        out = self.stdout

        out.write("Duties")
        for d in duty_states(now):
            if egress and d.name.startswith("engine:") and d.name != f"engine:{egress}":
                continue
            if d.state in (HELD, FAILING):
                where = f"held by {d.holder}, last run {_age(now, d.last_run_at)}"
            elif d.holder:
                where = self.style.ERROR(f"EXPIRED {_age(now, d.expires_at)} ({d.holder})")
            else:
                where = "off (switched off by its setting)" if d.state == OFF else "free"
            out.write(f"  {d.name}: {where}")
            if d.failures:
                out.write(self.style.ERROR(f"    FAILING ({d.failures} in a row): {d.last_error}"))
            elif d.last_error:
                out.write(f"    last error {_age(now, d.last_error_at)}: {d.last_error}")

        out.write("\nEngines (seen in the last 10 minutes)")
        engines = EngineLiveness.objects.filter(seen_at__gte=now - timedelta(minutes=10)).order_by(
            "egress", "-holds_lease", "-seen_at"
        )
        if egress:
            engines = engines.filter(egress=egress)
        active = [e for e in engines if e.is_sending(now)]
        if not active:
            out.write(self.style.ERROR("  NO ACTIVE ENGINE: countdowns are not being kept alive"))
        shifts, summed_up = _worker_shifts(engines), set()
        for e in engines:
            group = shifts.get(_worker(e), []) if e.stopping else []
            if len(group) > 1:
                # A worker that served many shifts, each ended cleanly: one line for all of them.
                if _worker(e) not in summed_up:
                    summed_up.add(_worker(e))
                    out.write(
                        f"  worker {e.host}:{e.pid} [{e.egress}] — {len(group)} shifts "
                        f"{group[-1].started_at:%H:%M}–{group[0].seen_at:%H:%M}, stopped cleanly"
                    )
                    errors = [g.last_error for g in group if g.last_error]
                    if errors:
                        out.write(f"    last error: {errors[0]}")
                continue
            role = "active" if e.holds_lease else ("stopped" if e.stopping else "standby")
            # An engine that said it was stopping ended cleanly (a hand-over, a worker shutdown): its record
            # going quiet afterwards is expected, not an alarm.
            state = "cleanly" if e.stopping else (self.style.ERROR("STALE") if e.is_gone(now) else "live")
            weight = f"{e.used_weight}/{e.weight_limit}" if e.weight_limit else (e.used_weight or "-")
            out.write(
                f"  {e.engine_id} [{e.egress}] {role} {state}, seen {_age(now, e.seen_at)}, pid {e.pid} on "
                f"{e.host}, clock offset {e.clock_offset_ms if e.clock_offset_ms is not None else '-'} ms, "
                f"weight {weight}"
            )
            if e.holds_lease and not e.stopping and e.is_deaf(now):
                out.write(
                    self.style.ERROR(
                        f"    CANNOT READ DESIRED STATE since {e.desired_read_at:%H:%M:%S}: not counted on "
                        "for disarms (the web sends them)"
                    )
                )
            if e.banned_until and e.banned_until > now:
                out.write(self.style.ERROR(f"    BANNED until {e.banned_until:%H:%M:%S}"))
            elif e.rate_limited_until and e.rate_limited_until > now:
                out.write(self.style.WARNING(f"    rate limited until {e.rate_limited_until:%H:%M:%S}"))
            if e.last_error:
                out.write(f"    last error: {e.last_error}")

        out.write(f"\nNext beats due (first {options['due']})")
        policies = CountdownPolicy.objects.filter(armed=True).with_account()
        if egress:
            policies = policies.filter(account__egress=egress)
        upcoming = policies.exclude(next_due_at=None).order_by("next_due_at")[: options["due"]]
        for p in upcoming:
            status = p.status(now)
            out.write(
                f"  {p.account.label} {p.switch_title}: due {_age(now, p.next_due_at)}, {status.state.label}"
            )
        if not upcoming:
            out.write("  none")

        out.write(f"\nRecent failed attempts (last {options['errors']})")
        failed = Beat.objects.filter(~Q(outcome__in=[Outcome.CONFIRMED, Outcome.SKIPPED])).select_related(
            "policy__account"
        )
        if egress:
            failed = failed.filter(policy__account__egress=egress)
        failed = failed.order_by("-sent_at")[: options["errors"]]
        for b in failed:
            out.write(
                f"  {b.sent_at:%H:%M:%S} {b.policy.account.label} {b.policy.switch_title} {b.kind}: "
                f"{b.get_outcome_display()} {b.message}"
            )
        if not failed:
            out.write("  none")
        stopped = CountdownPolicy.objects.filter(fatal_generation=F("generation")).with_account()
        if egress:
            stopped = stopped.filter(account__egress=egress)
        for p in stopped:
            out.write(self.style.ERROR(f"  STOPPED {p.account.label} {p.switch_title}: {p.last_error}"))
        if not active:
            # A non-zero exit lets monitoring (cron, systemd, Nagios-style checks) alarm on this alone.
            raise SystemExit(2)
