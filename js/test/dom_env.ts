// A DOM for renderer tests (happy-dom), installed as globals before the renderers run.
import { Window } from "happy-dom";

const window = new Window({ url: "http://localhost/" });
const g = globalThis as unknown as Record<string, unknown>;
g.window = window;
g.document = window.document;
g.HTMLElement = window.HTMLElement;
g.Node = window.Node;

export function cleanup(): void {
  document.body.innerHTML = "";
}

export { window };
