/**
 * What every a3s widget view shares: the themed root element, the error box, listeners
 * that are removed on cleanup, the "hello" handshake and the kernel clock offset.
 */
import type { AnyModel } from "@anywidget/types";
import theme from "../css/theme.css";
import { h } from "./dom.js";
import { ErrorBox, guard } from "./errors.js";
import type { BaseTraits, ClockMsg } from "./types.js";

export interface ViewKit {
  root: HTMLElement;
  body: HTMLElement;
  errors: ErrorBox;
  /** Subscribe to a model event; removed on cleanup; exceptions go to the error box. */
  on(event: string, callback: (...args: any[]) => void): void;
  /** Wrap a DOM callback the same way. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  /** Kernel epoch ms -> browser epoch ms (kernel and browser clocks may differ). */
  toLocal(kernelMs: number): number;
  /** Register extra cleanup (timers, observers). */
  onCleanup(fn: () => void): void;
  cleanup(): void;
}

/** The id of the page's one theme <style> (every widget bundle carries the same text). */
export const THEME_STYLE_ID = "a3s-notebook-theme";

/**
 * Put the theme stylesheet into the page once. Every view calls it; the first one adds
 * the <style>, later ones find it (a newer build replaces its text, as anywidget does
 * with `_css`). It goes first in <head> so that a widget's own rules, which anywidget
 * adds later, win over the shared ones they refine.
 */
export function ensureTheme(doc: Document = document, css: string = theme): HTMLStyleElement {
  // a tag test, not instanceof: the document may belong to another window (an iframe)
  const found = doc.getElementById(THEME_STYLE_ID) as HTMLStyleElement | null;
  if (found && found.tagName === "STYLE") {
    if (found.textContent !== css) found.textContent = css;
    return found;
  }
  const style = doc.createElement("style");
  style.id = THEME_STYLE_ID;
  style.textContent = css;
  doc.head.prepend(style);
  return style;
}

export function mountView<T extends BaseTraits>(model: AnyModel<T>, el: HTMLElement, name: string): ViewKit {
  ensureTheme();
  const errors = new ErrorBox(() => model.send({ kind: "clear_errors" }));
  const body = h("div", { class: "a3s-body" });
  const root = h("div", { class: `a3s-root a3s-${name}`, "data-a3s-widget": name }, body, errors.el);
  el.appendChild(root);
  const cleanups: Array<() => void> = [];
  let offset = 0;

  const kit: ViewKit = {
    root,
    body,
    errors,
    on(event, callback) {
      const wrapped = guard(errors, callback);
      model.on(event, wrapped);
      cleanups.push(() => model.off(event as never, wrapped));
    },
    guard: (fn) => guard(errors, fn),
    toLocal: (kernelMs) => kernelMs + offset,
    onCleanup: (fn) => cleanups.push(fn),
    cleanup() {
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch (err) {
          console.error("[a3s widget] cleanup failed", err);
        }
      }
      root.remove();
    },
  };

  errors.setPython(model.get("errors"));
  kit.on("change:errors", () => errors.setPython(model.get("errors")));
  kit.on("msg:custom", (msg: ClockMsg) => {
    if (msg && msg.kind === "clock" && typeof msg.now === "number") offset = Date.now() - msg.now;
  });
  return kit;
}

/** Ask Python for what a fresh view cannot get from traits (clock, live stream text). */
export function sayHello(model: AnyModel): void {
  model.send({ kind: "hello" });
}

/** Run `fn` at most once per animation frame (falls back to a timeout outside browsers). */
export function frameScheduler(fn: () => void): { schedule(): void; cancel(): void } {
  let handle: number | null = null;
  const raf: (cb: () => void) => number =
    typeof requestAnimationFrame === "function" ? requestAnimationFrame : (cb) => setTimeout(cb, 16) as unknown as number;
  const caf: (h: number) => void =
    typeof cancelAnimationFrame === "function" ? cancelAnimationFrame : (h) => clearTimeout(h);
  return {
    schedule() {
      if (handle !== null) return;
      handle = raf(() => {
        handle = null;
        fn();
      });
    },
    cancel() {
      if (handle !== null) caf(handle);
      handle = null;
    },
  };
}
