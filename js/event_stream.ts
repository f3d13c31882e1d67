/** EventStream: the run as it happens (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import { EventStreamView } from "./lib/event_stream_view.js";
import type { EventStreamTraits, InboundMsg } from "./lib/types.js";
import { frameScheduler, mountView, sayHello } from "./lib/widget.js";

function render({ model, el }: RenderProps<EventStreamTraits>) {
  const kit = mountView(model, el, "events");
  const view = new EventStreamView({
    rows: () => [...(model.get("archive") ?? []), ...(model.get("rows") ?? [])],
    rowsRev: () => model.get("rows_rev"),
    status: () => model.get("status") ?? { phase: "idle" },
    pageSize: () => model.get("page_size") || 100,
    requestSnapshot: () => sayHello(model),
  });
  kit.body.append(view.el);
  const live = frameScheduler(kit.guard(() => view.renderLive()));
  kit.onCleanup(() => live.cancel());

  view.updateRows();
  view.updateStatus();
  kit.on("change:rows", () => view.updateRows());
  kit.on("change:archive", () => view.updateRows());
  kit.on("change:rows_rev", () => view.updateRows());
  kit.on("change:status", () => view.updateStatus());
  kit.on("msg:custom", (msg: InboundMsg) => {
    if (view.handleMessage(msg)) live.schedule();
  });
  view.expectSnapshot();
  sayHello(model);
  return () => kit.cleanup();
}

export default { render };
