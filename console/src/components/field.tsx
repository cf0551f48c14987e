/**
 * A labelled control with its help and its error: the error text names the field ("Token URI: must be …"), and the
 * control says aria-invalid and points at the help and the error with aria-describedby.
 */
import type { ComponentChildren } from 'preact';

export interface ControlProps {
  id: string;
  'aria-invalid'?: 'true';
  'aria-describedby'?: string;
}

interface Props {
  id: string;
  label: string;
  error?: string;
  help?: ComponentChildren;
  /** a checkbox: the control first, then its label */
  inline?: boolean;
  children(control: ControlProps): ComponentChildren;
}

export function Field({ id, label, error, help, inline = false, children }: Props) {
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  // The error first: it is what a reader needs to hear (and what "the field's description" begins with).
  const describedBy = [error ? errorId : '', help ? helpId : ''].filter(Boolean).join(' ');
  const control = children({ id, ...(error ? { 'aria-invalid': 'true' } : {}), ...(describedBy ? { 'aria-describedby': describedBy } : {}) });
  return (
    <div class={inline ? 'field field-inline' : 'field'}>
      {inline ? (
        <>
          {control}
          <label for={id}>{label}</label>
        </>
      ) : (
        <>
          <label for={id}>{label}</label>
          {control}
        </>
      )}
      {error && (
        <p id={errorId} class="field-error">
          {error}
        </p>
      )}
      {help && (
        <p id={helpId} class="help">
          {help}
        </p>
      )}
    </div>
  );
}
