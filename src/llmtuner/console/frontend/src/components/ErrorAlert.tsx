import { Alert } from 'antd';
import type { ApiError } from '../api';
import { useI18n } from '../i18n';

/** The server's own message for a failed call (a viewer's 403 says which role the action needs). */
export default function ErrorAlert({ error, title }: { error: ApiError | Error | null | undefined; title?: string }) {
  const { t } = useI18n();
  if (!error) return null;
  const status = (error as ApiError).status;
  const heading = title ?? (status === 403 ? t('common.readOnly') : t('common.error'));
  return (
    <Alert
      type="error"
      showIcon
      data-testid="error-alert"
      style={{ marginBottom: 16, whiteSpace: 'pre-wrap' }}
      message={status ? `${heading} (${status})` : heading}
      description={error.message}
    />
  );
}
