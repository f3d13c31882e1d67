/**
 * Errors shown beside the widget: those Python handlers reported (the `errors` trait) and
 * those thrown in this view. Nothing is swallowed; everything is also logged to the console.
 */
import { clear, h } from "./dom.js";

export class ErrorBox {
  readonly el: HTMLElement;
  private python: string[] = [];
  private local: string[] = [];
  private readonly onDismiss: () => void;

  constructor(onDismiss: () => void) {
    this.onDismiss = onDismiss;
    this.el = h("div", { class: "a3s-errors", role: "alert", hidden: true });
  }

  /** The errors Python reported. */
  setPython(errors: readonly string[] | null | undefined): void {
    this.python = [...(errors ?? [])];
    this.render();
  }

  /** Report an error thrown in the front end. */
  addLocal(error: unknown): void {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.error("[a3s widget]", error);
    this.local.push(`front end: ${text}`);
    this.render();
  }

  get count(): number {
    return this.python.length + this.local.length;
  }

  private render(): void {
    clear(this.el);
    const all = [...this.python, ...this.local];
    this.el.hidden = all.length === 0;
    if (all.length === 0) return;
    const dismiss = h(
      "button",
      {
        class: "a3s-btn a3s-btn--small",
        type: "button",
        onclick: () => {
          this.local = [];
          this.onDismiss();
          this.render();
        },
      },
      "Dismiss",
    );
    this.el.append(
      h("div", { class: "a3s-errors-head" }, h("strong", null, `Widget error${all.length > 1 ? "s" : ""}`), dismiss),
      ...all.map((e) => h("pre", { class: "a3s-errors-item" }, e)),
    );
  }
}

/** Wrap a callback so that an exception is shown in `box` instead of vanishing. */
export function guard<A extends unknown[]>(box: ErrorBox, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      box.addLocal(err);
    }
  };
}
