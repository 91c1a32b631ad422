/** Providers around the app: language (and antd's matching locale), antd theme, the signed-in user. */
import { App as AntApp, ConfigProvider } from 'antd';
import zhCN from 'antd/locale/zh_CN';
import enUS from 'antd/locale/en_US';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import type { ReactNode } from 'react';
import type { User } from './api';
import App from './App';
import { AuthProvider } from './auth';
import { I18nProvider, useI18n, type Lang } from './i18n';

function Themed({ children }: { children: ReactNode }) {
  const { lang } = useI18n();
  dayjs.locale(lang === 'zh' ? 'zh-cn' : 'en');
  return (
    <ConfigProvider locale={lang === 'zh' ? zhCN : enUS} theme={{ token: { colorPrimary: '#1677ff', borderRadius: 6 } }}>
      <AntApp>{children}</AntApp>
    </ConfigProvider>
  );
}

/** `initialUser`/`lang` are for tests (skip GET /api/auth/me, fix the language). */
export default function Root({ initialUser, lang, children }: { initialUser?: User | null; lang?: Lang; children?: ReactNode }) {
  return (
    <I18nProvider initial={lang}>
      <Themed>
        <AuthProvider initialUser={initialUser}>{children ?? <App />}</AuthProvider>
      </Themed>
    </I18nProvider>
  );
}
