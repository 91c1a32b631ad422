/**
 * Rows as the model sees them: the masked part (label -100: system prompt, the question, earlier turns) is greyed
 * and hatched, the learned answer highlighted. Rows come as segments {text, masked}, or as the CLI's text where
 * masked spans are wrapped in ⟦ ⟧ and packed samples are separated by a line holding │.
 */
import { Card, Space, Tag, Typography } from 'antd';
import type { CSSProperties } from 'react';
import type { PreviewRow, PreviewSegment } from '../api';
import { useI18n } from '../i18n';

export const MASK_OPEN = '⟦';
export const MASK_CLOSE = '⟧';
export const SAMPLE_BOUNDARY = '\n│\n';

/** Split the CLI's rendering into segments: ⟦masked⟧ learned ⟦masked⟧ ... */
export function parseMarked(text: string): Piece[] {
  const segments: Piece[] = [];
  let rest = text;
  while (rest.length) {
    const open = rest.indexOf(MASK_OPEN);
    if (open < 0) {
      segments.push({ text: rest, masked: false });
      break;
    }
    if (open > 0) segments.push({ text: rest.slice(0, open), masked: false });
    const close = rest.indexOf(MASK_CLOSE, open + 1);
    if (close < 0) {
      segments.push({ text: rest.slice(open + 1), masked: true });
      break;
    }
    segments.push({ text: rest.slice(open + 1, close), masked: true });
    rest = rest.slice(close + 1);
  }
  return segments.filter((segment) => segment.text.length > 0);
}

export interface Piece {
  text: string;
  masked: boolean;
}

/** The API's segments ({text, learned}) or the CLI's text, as pieces that are masked or not. */
export function segmentsOf(row: PreviewRow): Piece[] {
  if (Array.isArray(row.segments)) return row.segments.map((s: PreviewSegment) => ({ text: s.text, masked: s.masked ?? s.learned === false }));
  return parseMarked(String(row.text ?? ''));
}

export const maskedStyle: CSSProperties = {
  color: '#8c8c8c',
  background: 'repeating-linear-gradient(135deg, #f5f5f5, #f5f5f5 6px, #ebebeb 6px, #ebebeb 12px)',
  borderRadius: 2,
};

export const learnedStyle: CSSProperties = {
  color: '#135200',
  background: '#d9f7be',
  borderRadius: 2,
  fontWeight: 500,
};

function Segment({ segment }: { segment: Piece }) {
  const { t } = useI18n();
  const pieces = segment.text.split(SAMPLE_BOUNDARY);
  return (
    <>
      {pieces.map((piece, index) => (
        <span key={index}>
          {index > 0 && <hr data-testid="sample-boundary" style={{ border: 0, borderTop: '2px dashed #91caff', margin: '8px 0' }} />}
          {piece && (
            <span
              data-testid={segment.masked ? 'seg-masked' : 'seg-learned'}
              data-masked={segment.masked ? 'true' : 'false'}
              title={segment.masked ? t('datasets.masked') : t('datasets.learned')}
              style={segment.masked ? maskedStyle : learnedStyle}
            >
              {piece}
            </span>
          )}
        </span>
      ))}
    </>
  );
}

export function PreviewLegend() {
  const { t } = useI18n();
  return (
    <Space size="middle" wrap>
      <span style={{ ...maskedStyle, padding: '0 6px' }}>{t('datasets.masked')}</span>
      <span style={{ ...learnedStyle, padding: '0 6px' }}>{t('datasets.learned')}</span>
    </Space>
  );
}

export default function MaskedPreview({ rows }: { rows: PreviewRow[] }) {
  const { t } = useI18n();
  if (!rows.length) return <Typography.Text type="secondary">{t('common.none')}</Typography.Text>;
  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="masked-preview">
      <PreviewLegend />
      {rows.map((row, index) => {
        const tokens = row.num_tokens;
        return (
          <Card
            key={`${row.split ?? ''}-${row.index ?? index}`}
            size="small"
            data-testid="preview-row"
            title={
              <Space>
                {t('datasets.row', { n: (row.index ?? index) + 1 })}
                {row.split && <Tag>{row.split}</Tag>}
                {row.answer && <Tag color={row.answer === 'chosen' ? 'green' : 'red'}>{row.answer}</Tag>}
                {typeof tokens === 'number' && <Tag color="blue">{t('datasets.tokens', { n: tokens })}</Tag>}
              </Space>
            }
          >
            <div style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word', fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 13, lineHeight: 1.7 }}>
              {segmentsOf(row).map((segment, i) => (
                <Segment key={i} segment={segment} />
              ))}
            </div>
          </Card>
        );
      })}
    </Space>
  );
}
