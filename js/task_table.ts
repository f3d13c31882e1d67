/** TaskTable: the agent's task list (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import { renderTaskTable } from "./lib/panels.js";
import type { BaseTraits, TaskItem } from "./lib/types.js";
import { mountView } from "./lib/widget.js";

interface Traits extends BaseTraits {
  tasks: TaskItem[];
}

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "task-table");
  const update = () => kit.body.replaceChildren(renderTaskTable(model.get("tasks") ?? []));
  kit.guard(update)();
  kit.on("change:tasks", update);
  return () => kit.cleanup();
}

export default { render };
