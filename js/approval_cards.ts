/** ApprovalCards: one card per pending confirmation (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import {
  type ApprovalActions,
  type CardHandle,
  markPageTitle,
  orderCards,
  pendingBanner,
  renderCard,
  renderRules,
} from "./lib/approvals_view.js";
import { h } from "./lib/dom.js";
import type { BaseTraits, Card, Decision, RulesState } from "./lib/types.js";
import { mountView, sayHello } from "./lib/widget.js";

interface Traits extends BaseTraits {
  cards: Card[];
  rules: RulesState;
}

/** After this long without an answer, say that the kernel may be busy. */
const SLOW_KERNEL_MS = 3000;

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "approvals");
  const reasons = new Map<string, string>();
  const sending = new Set<string>();
  let handles: CardHandle[] = [];
  let rulesOpen = false;

  const actions: ApprovalActions = {
    decide: (toolId: string, decision: Decision, reason: string) => {
      model.send({ kind: "confirm", tool_id: toolId, decision, reason });
      const timer = setTimeout(
        kit.guard(() => {
          const note = kit.body.querySelector(`[data-tool-id="${CSS.escape(toolId)}"] .a3s-card-sending`);
          if (note && sending.has(toolId)) {
            note.textContent =
              "Sent; the kernel has not answered yet. It may be busy running a cell; the click is handled when it is free.";
          }
        }),
        SLOW_KERNEL_MS,
      );
      kit.onCleanup(() => clearTimeout(timer));
      update();
    },
    removeRule: (rule: string) => model.send({ kind: "remove_rule", rule }),
    toLocal: kit.toLocal,
  };

  function update() {
    const cards = orderCards(model.get("cards") ?? []);
    // a card that Python has answered for is no longer "sending"
    for (const c of cards) if (c.status !== "pending" || c.notice) sending.delete(c.tool_id);
    const rules = model.get("rules") ?? { allow: [], added: [] };
    if (rules.added.length) rulesOpen = true;
    handles = cards.map((c) => renderCard(c, actions, reasons, sending));
    const pending = cards.filter((c) => c.status === "pending").length;
    const head = h(
      "div",
      { class: "a3s-panel-head" },
      h("span", { class: "a3s-title" }, "Approvals"),
      h("span", { class: "a3s-muted" }, pending ? `${pending} waiting for you` : "none pending"),
    );
    const rulesEl = renderRules(rules, actions, rulesOpen);
    rulesEl.addEventListener("toggle", () => {
      rulesOpen = (rulesEl as HTMLDetailsElement).open;
    });
    kit.body.replaceChildren(head, ...[pendingBanner(pending)].filter((x) => x !== null), ...handles.map((x) => x.el), rulesEl);
    markPageTitle(view, pending > 0);
  }
  const view = {};
  kit.onCleanup(() => markPageTitle(view, false));

  const timer = setInterval(
    kit.guard(() => {
      const now = Date.now();
      for (const handle of handles) handle.tick(now);
    }),
    500,
  );
  kit.onCleanup(() => clearInterval(timer));
  kit.guard(update)();
  kit.on("change:cards", update);
  kit.on("change:rules", update);
  kit.on("msg:custom", (msg: { kind?: string }) => {
    // the kernel clock arrived: deadlines shift
    if (msg?.kind === "clock") for (const handle of handles) handle.tick(Date.now());
  });
  sayHello(model);
  return () => kit.cleanup();
}

export default { render };
