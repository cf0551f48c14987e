/**
 * A modal confirmation (native <dialog> opened with showModal: the page behind is inert). Focus moves into it (to
 * "Cancel", the safe choice), Escape or "Cancel" closes it, and focus returns to what was focused before.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { BusyButton } from './busy-button';
import type { Action } from './use-action';

interface Props {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  action: Action;
  onConfirm(): void;
  onClose(): void;
}

export function ConfirmDialog({ title, children, confirmLabel, action, onConfirm, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const element = dialog.current;
    element?.showModal();
    cancel.current?.focus();
    return () => {
      if (element?.open) element.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      class="dialog"
      aria-labelledby={titleId}
      aria-busy={action.busy ? 'true' : undefined}
      onCancel={(event) => {
        // Escape: the owner closes it (and so unmounts it), not the browser behind its back.
        event.preventDefault();
        if (!action.busy) onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="actions">
        <BusyButton action={action} variant="danger" onClick={onConfirm}>
          {confirmLabel}
        </BusyButton>
        <button ref={cancel} type="button" class="button button-plain" onClick={onClose}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
