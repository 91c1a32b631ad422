import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Table } from 'antd';
import { describe, expect, it } from 'vitest';
import LangSwitch from '../components/LangSwitch';
import { LANG_STORAGE_KEY, messages, useI18n } from '../i18n';
import { renderAt } from '../test/render';

function Sample() {
  const { t } = useI18n();
  return (
    <div>
      <LangSwitch />
      <h1>{t('nav.jobs')}</h1>
      <p>{t('datasets.uploaded', { name: 'tcm', count: 20 })}</p>
      <Table dataSource={[]} columns={[{ title: 'x', dataIndex: 'x' }]} />
    </div>
  );
}

describe('i18n', () => {
  it('is Chinese by default, switches to English (antd too) and remembers the choice', async () => {
    const first = renderAt('/', <Sample />);
    expect(screen.getByRole('heading')).toHaveTextContent('任务');
    expect(screen.getByText('已上传：tcm（20 条）')).toBeInTheDocument();
    expect(screen.getAllByText('暂无数据').length).toBeGreaterThan(0); // antd zh_CN

    await userEvent.click(screen.getByTestId('lang-switch'));
    expect(screen.getByRole('heading')).toHaveTextContent('Jobs');
    expect(screen.getByText('Uploaded: tcm (20 samples)')).toBeInTheDocument();
    expect(screen.getAllByText('No data').length).toBeGreaterThan(0); // antd en_US
    expect(window.localStorage.getItem(LANG_STORAGE_KEY)).toBe('en');
    expect(document.documentElement.lang).toBe('en');

    first.unmount();
    renderAt('/', <Sample />); // a reload: the stored choice wins
    expect(screen.getByRole('heading')).toHaveTextContent('Jobs');
    await userEvent.click(screen.getByTestId('lang-switch'));
    expect(screen.getByRole('heading')).toHaveTextContent('任务');
    expect(window.localStorage.getItem(LANG_STORAGE_KEY)).toBe('zh');
  });

  it('has every key in both languages, none empty', () => {
    const zhKeys = Object.keys(messages.zh).sort();
    expect(Object.keys(messages.en).sort()).toEqual(zhKeys);
    for (const key of zhKeys) {
      expect(messages.zh[key as keyof typeof messages.zh].length).toBeGreaterThan(0);
      expect(messages.en[key as keyof typeof messages.en].length).toBeGreaterThan(0);
    }
  });
});
