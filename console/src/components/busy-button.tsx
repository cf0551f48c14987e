/**
 * A button that runs an action: while it runs the button is disabled (aria-disabled, so that it keeps the keyboard
 * focus) and, once the action is slow, reads "Working…".
 */
import type { ComponentChildren } from 'preact';
import type { Action } from './use-action';

interface Props {
  action: Action;
  children: ComponentChildren;
  type?: 'button' | 'submit';
  onClick?: () => void;
  variant?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
}

export function BusyButton({ action, children, type = 'button', onClick, variant = 'plain', disabled = false }: Props) {
  const off = action.busy || disabled;
  return (
    <button
      type={type}
      class={`button button-${variant}`}
      aria-disabled={off ? 'true' : undefined}
      onClick={(event) => {
        if (off) {
          event.preventDefault();
          return;
        }
        onClick?.();
      }}
    >
      {action.slow ? 'Working…' : children}
    </button>
  );
}
