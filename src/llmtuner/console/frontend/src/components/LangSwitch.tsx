import { Button } from 'antd';
import { TranslationOutlined } from '@ant-design/icons';
import { useI18n } from '../i18n';

/** 中文 ⇄ English; the choice is kept in localStorage. */
export default function LangSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <Button type="text" icon={<TranslationOutlined />} data-testid="lang-switch" onClick={() => setLang(lang === 'zh' ? 'en' : 'zh')}>
      {t('lang.switch')}
    </Button>
  );
}
