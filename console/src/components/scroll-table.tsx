/**
 * A table that scrolls sideways inside its own box on a narrow window, so the page itself never does. The box can
 * take the keyboard focus, so that it can be scrolled without a mouse.
 */
import type { ComponentChildren } from 'preact';

export function ScrollTable({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={`${label} table`} tabIndex={0}>
      <table aria-label={label}>{children}</table>
    </div>
  );
}
