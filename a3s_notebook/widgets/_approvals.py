"""ApprovalCards: one card per pending confirmation, decided by a click.

A click sends ``{"kind": "confirm", "tool_id", "decision", "reason"}``; the handler calls
``session.confirm(...)``. When the request is no longer pending (decided elsewhere, timed
out, cancelled) ``confirm`` returns False and the card says so: nothing is raised.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook.widgets._base import SessionWidget, now_ms
from a3s_notebook.widgets._event_stream import clip_value
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import args_summary, md_escape

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.hitl import PendingConfirmationInfo
    from a3s_notebook.engine.session import Session

__all__ = ["ApprovalCards", "diff_for"]

DIFF_TEXT_MAX = 200_000
"""Characters of old/new text sent for a diff (the rest is cut, with a note)."""

FILE_READ_MAX = 1_000_000
"""Files larger than this are not read for a diff."""

DECIDED_KEPT = 20
"""Decided cards kept for reference (the oldest are dropped)."""

NOT_PENDING = (
    "This request is no longer pending (already decided, timed out or cancelled); "
    "the click did nothing."
)


def _inside(workspace: Path, file_path: str) -> Path | None:
    try:
        target = (workspace / file_path).resolve()
        target.relative_to(workspace.resolve())
    except (ValueError, OSError):
        return None
    return target


def _read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > FILE_READ_MAX:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _cut(text: str) -> tuple[str, bool]:
    return (text, False) if len(text) <= DIFF_TEXT_MAX else (text[:DIFF_TEXT_MAX], True)


def diff_for(workspace: Path, tool_name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Old and new text of a ``write`` or ``edit`` call, for the card's diff.

    Reads the current file (inside the workspace only); for ``edit``, applies the
    replacement the way the tool will, so the diff shows real line numbers. For ``patch``,
    the diff applied to the current file (the first file of a several-file patch; the note
    names the others).
    """
    if tool_name == "patch":
        return _patch_diff(workspace, args)
    file_path = args.get("file_path")
    if not isinstance(file_path, str) or not file_path:
        return None
    target = _inside(workspace, file_path)
    notes: list[str] = []
    if tool_name == "write":
        content = args.get("content")
        if not isinstance(content, str):
            return None
        exists = target is not None and target.is_file()
        old = _read_text(target) if exists and target is not None else ""
        if old is None:
            notes.append("The current file could not be read (binary or large): diffed as empty.")
            old = ""
        old, cut_old = _cut(old)
        new, cut_new = _cut(content)
        if cut_old or cut_new:
            notes.append(f"Only the first {DIFF_TEXT_MAX:,} characters are compared.")
        return {
            "kind": "write",
            "path": file_path,
            "old": old,
            "new": new,
            "new_file": not exists,
            "note": " ".join(notes) or None,
        }
    if tool_name == "edit":
        old_s, new_s = args.get("old_string"), args.get("new_string")
        if not isinstance(old_s, str) or not isinstance(new_s, str):
            return None
        replace_all = bool(args.get("replace_all"))
        text = _read_text(target) if target is not None and target.is_file() else None
        if text is not None and old_s and old_s in text:
            before = text
            after = text.replace(old_s, new_s) if replace_all else text.replace(old_s, new_s, 1)
        else:
            before, after = old_s, new_s
            notes.append(
                "old_string was not found in the file: the edit will fail."
                if text is not None
                else "The file could not be read: showing the replaced text only."
            )
        before, cut_b = _cut(before)
        after, cut_a = _cut(after)
        if cut_a or cut_b:
            notes.append(f"Only the first {DIFF_TEXT_MAX:,} characters are compared.")
        return {
            "kind": "edit",
            "path": file_path,
            "old": before,
            "new": after,
            "replace_all": replace_all,
            "note": " ".join(notes) or None,
        }
    return None


def _patch_diff(workspace: Path, args: dict[str, Any]) -> dict[str, Any] | None:
    from a3s_notebook.engine._diff import DiffError, apply_hunks, parse_diff

    diff, file_path = args.get("diff"), args.get("file_path")
    if not isinstance(diff, str):
        return None
    try:
        sections = parse_diff(diff)
    except DiffError:
        return None
    first = sections[0]
    path = file_path if isinstance(file_path, str) and file_path else first.target
    if path is None:
        return None
    notes = []
    others = [s.target or "?" for s in sections[1:]]
    if others:
        notes.append(f"The patch also changes {', '.join(others)} (not shown).")
    target = _inside(workspace, path)
    old = "" if first.creates else (_read_text(target) if target is not None else None)
    if old is None:
        return None
    try:
        new = apply_hunks(old, first, path)
    except DiffError:
        notes.append("The patch does not apply to the current file: it will fail.")
        new = old
    old, cut_old = _cut(old)
    new, cut_new = _cut(new)
    if cut_old or cut_new:
        notes.append(f"Only the first {DIFF_TEXT_MAX:,} characters are compared.")
    return {
        "kind": "write" if first.creates else "edit",
        "path": path,
        "old": old,
        "new": new,
        "new_file": first.creates,
        "note": " ".join(notes) or None,
    }


class ApprovalCards(SessionWidget):
    """One card per pending confirmation: the tool, why it needs approval, its arguments
    (a diff for ``write`` and ``edit``) and a countdown; buttons Approve, Deny (with an
    optional reason the model sees) and Always allow (adds an allow rule, listed under
    the cards and removable). Decided cards say who decided what and when."""

    _esm = asset("approval_cards")
    _events: ClassVar[frozenset[str] | None] = frozenset(
        {
            "confirmation_required",
            "confirmation_received",
            "confirmation_timeout",
            "tool_end",
            "confirmations_cancelled",
        }
    )

    cards = traitlets.List(traitlets.Dict()).tag(sync=True)
    """See js/lib/types.ts ``Card``."""
    rules: traitlets.Dict[str, Any] = traitlets.Dict({"allow": [], "added": []}).tag(sync=True)
    """``{"allow": [the session's allow rules], "added": [rules added from these cards]}``"""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._added: list[str] = []
        super().__init__(session, **kwargs)

    # --- state helpers -------------------------------------------------------------------

    def _card(self, tool_id: str) -> dict[str, Any] | None:
        return next((c for c in self.cards if c["tool_id"] == tool_id), None)

    def _set_card(self, tool_id: str, **changes: Any) -> None:
        # new dicts and a new list: traits compare by value, so never mutate in place
        self.cards = [{**c, **changes} if c["tool_id"] == tool_id else c for c in self.cards]

    def _add_card(self, card: dict[str, Any]) -> None:
        cards = [c for c in self.cards if c["tool_id"] != card["tool_id"]] + [card]
        decided = [c for c in cards if c["status"] != "pending"]
        if len(decided) > DECIDED_KEPT:
            drop = {id(c) for c in decided[: len(decided) - DECIDED_KEPT]}
            cards = [c for c in cards if id(c) not in drop]
        self.cards = cards

    def _refresh_rules(self) -> None:
        allow = list(self._session.rules().get("allow", [])) if self._session is not None else []
        self._added = [r for r in self._added if r in allow]
        self.rules = {"allow": allow, "added": list(self._added)}

    def _new_card(
        self,
        tool_id: str,
        tool_name: str,
        args: dict[str, Any],
        reason: str | None,
        timeout_ms: int,
        created_at: float,
        remaining_ms: float,
        suggested_rule: str | None = None,
    ) -> dict[str, Any]:
        diff = None
        if self._session is not None:
            try:
                diff = diff_for(self._session.workspace, tool_name, args)
            except Exception as exc:  # a diff is a nicety: show the card without it
                self._report("diff", exc)
        return {
            "tool_id": tool_id,
            "tool_name": tool_name,
            "args": clip_value(args),
            "reason": reason,
            "suggested_rule": suggested_rule,
            "timeout_ms": timeout_ms,
            "created_at": created_at,
            "deadline": now_ms() + remaining_ms,
            "status": "pending",
            "decided_by": None,
            "decision_reason": None,
            "rule_added": None,
            "decided_at": None,
            "action_taken": None,
            "notice": None,
            "diff": diff,
        }

    def _from_pending(self, p: PendingConfirmationInfo) -> dict[str, Any]:
        return self._new_card(
            p.tool_id,
            p.tool_name,
            p.args,
            p.reason,
            p.timeout_ms,
            p.created_at * 1000,
            p.remaining_ms,
            p.suggested_rule,
        )

    def _close_orphans(self) -> None:
        """Pending cards whose request vanished without an event (``session.cancel()``)."""
        if self._session is None:
            return
        live = {p.tool_id for p in self._session.pending_confirmations()}
        for c in self.cards:
            if c["status"] == "pending" and c["tool_id"] not in live:
                self._set_card(c["tool_id"], status="cancelled", decided_at=now_ms())

    # --- session -------------------------------------------------------------------------

    def _reset(self, session: Session) -> None:
        with self.hold_sync():
            self._added = []
            self.cards = []
            # the decided cards (and their times) come back from the log
            self._replay(session)
            for p in session.pending_confirmations():
                if self._card(p.tool_id) is None:
                    self._add_card(self._from_pending(p))
                else:
                    self._set_card(p.tool_id, status="pending", deadline=now_ms() + p.remaining_ms)
            # a request the log shows open but nobody waits for (the kernel restarted)
            self._close_orphans()
            self._refresh_rules()

    def _handle_event(self, event: AgentEvent) -> None:
        t = event.type
        if t == "tool_end":  # at every tool call: most often there is no card at all
            ev: Any = event
            card = self._card(ev.id) if self.cards else None
            if card is not None and card["status"] == "pending":
                self._set_card(
                    ev.id,
                    status="cancelled",
                    decided_at=self._now(),
                    notice=self._decision_note(ev.id),
                )
        elif t == "confirmation_required":
            ev = event
            self._add_card(
                self._new_card(
                    ev.tool_id,
                    ev.tool_name,
                    ev.args,
                    ev.reason,
                    ev.timeout_ms,
                    self._now(),
                    ev.timeout_ms,
                    ev.suggested_rule,
                )
            )
        elif t == "confirmation_received":
            ev = event
            if self._card(ev.tool_id) is None:
                return
            with self.hold_sync():
                if ev.rule_added and ev.rule_added not in self._added:
                    self._added.append(ev.rule_added)
                self._set_card(
                    ev.tool_id,
                    status="approved" if ev.approved else "denied",
                    decided_by=ev.decided_by,
                    decision_reason=ev.reason,
                    rule_added=ev.rule_added,
                    decided_at=self._now(),
                    notice=self._decision_note(ev.tool_id),
                )
                self._refresh_rules()
        elif t == "confirmation_timeout":
            ev = event
            if self._card(ev.tool_id) is not None:
                self._set_card(
                    ev.tool_id,
                    status="timeout",
                    decided_by="timeout",
                    action_taken=ev.action_taken,
                    decided_at=self._now(),
                    notice=self._decision_note(ev.tool_id),
                )
        elif t == "confirmations_cancelled":
            for tool_id in event.tool_ids:  # type: ignore[union-attr]
                card = self._card(tool_id)
                if card is not None and card["status"] == "pending":
                    self._set_card(
                        tool_id,
                        status="cancelled",
                        decided_at=self._now(),
                        notice=self._decision_note(tool_id),
                    )

    def _decision_note(self, tool_id: str) -> str | None:
        """What the session says beside a decision: a replay's player session tells the
        recorded outcome and the class's choice (``decision_note``); a live one nothing."""
        note = getattr(self._session, "decision_note", None)
        return note(tool_id) if callable(note) else None

    def _on_custom_msg(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "confirm":
            self._confirm(
                str(content.get("tool_id", "")),
                str(content.get("decision", "")),
                content.get("reason"),
            )
        elif kind == "remove_rule":
            rule = str(content.get("rule", ""))
            if self._session is not None and rule:
                self._session.remove_rule(rule, "allow")
                if rule in self._added:
                    self._added.remove(rule)
            self._refresh_rules()

    def _confirm(self, tool_id: str, decision: str, reason: Any) -> None:
        if decision not in ("approve", "deny", "always"):
            raise ValueError(f"unknown decision {decision!r}: expected approve, deny or always")
        text = reason.strip() if isinstance(reason, str) and reason.strip() else None
        ok = False
        if self._session is not None:
            ok = self._session.confirm(
                tool_id,
                approved=decision != "deny",
                reason=text if decision == "deny" else None,
                always=decision == "always",
            )
        if ok:
            return  # the confirmation_received event has updated (or will update) the card
        card = self._card(tool_id)
        if card is None:
            return
        changes: dict[str, Any] = {"notice": NOT_PENDING}
        if card["status"] == "pending":
            changes.update(status="stale", decided_at=now_ms())
        self._set_card(tool_id, **changes)

    # --- text representation ---------------------------------------------------------------

    def _markdown(self) -> str:
        if not self.cards:
            return "approvals: none pending"
        lines = []
        now = now_ms()
        for c in self.cards:
            what = f"`{c['tool_name']}` {md_escape(args_summary(c['args']))}".rstrip()
            if c["status"] == "pending":
                left = max(0, int((c["deadline"] - now) / 1000))
                lines.append(
                    f"- ⏸ {what} needs approval ({md_escape(c['reason'] or 'policy')}), {left} s "
                    f"left: `session.confirm({c['tool_id']!r})` or "
                    f"`session.confirm({c['tool_id']!r}, approved=False, reason='...')`"
                )
            else:
                when = (
                    time.strftime("%H:%M:%S", time.localtime(c["decided_at"] / 1000))
                    if c.get("decided_at")
                    else ""
                )
                by = f" by {c['decided_by']}" if c.get("decided_by") else ""
                extra = ""
                if c.get("rule_added"):
                    extra = f", allow rule `{c['rule_added']}` added"
                elif c.get("decision_reason"):
                    extra = f": {md_escape(c['decision_reason'])}"
                lines.append(f"- {what}: {c['status']}{by} {when}{extra}".replace("  ", " "))
                if c.get("notice"):
                    lines.append(f"  {md_escape(c['notice'])}")
        return "**Approvals**\n\n" + "\n".join(lines)
