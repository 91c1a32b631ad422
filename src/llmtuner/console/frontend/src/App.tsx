/** The console's pages and its frame (menu, language switch, who is signed in). Page state lives in the URL. */
import { Button, Dropdown, Layout, Menu, Result, Space, Tag, Typography } from 'antd';
import {
  DashboardOutlined,
  DatabaseOutlined,
  ExperimentOutlined,
  LogoutOutlined,
  MessageOutlined,
  RobotOutlined,
  TeamOutlined,
  UserOutlined,
} from '@ant-design/icons';
import type { ReactNode } from 'react';
import { Link, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { RequireAuth, useAuth } from './auth';
import LangSwitch from './components/LangSwitch';
import { useI18n, type MessageKey } from './i18n';
import LoginPage from './pages/LoginPage';
import DashboardPage from './pages/DashboardPage';
import DatasetsPage from './pages/DatasetsPage';
import DatasetDetailPage from './pages/DatasetDetailPage';
import ModelsPage from './pages/ModelsPage';
import JobsPage from './pages/JobsPage';
import JobCreatePage from './pages/JobCreatePage';
import JobDetailPage from './pages/JobDetailPage';
import PlaygroundPage from './pages/PlaygroundPage';
import UsersPage from './pages/UsersPage';

function Frame({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const { user, logout, isAdmin } = useAuth();
  const location = useLocation();
  const navigate = useNavigate();
  const section = '/' + (location.pathname.split('/')[1] ?? '');
  const items = [
    { key: '/', icon: <DashboardOutlined />, label: <Link to="/">{t('nav.dashboard')}</Link> },
    { key: '/datasets', icon: <DatabaseOutlined />, label: <Link to="/datasets">{t('nav.datasets')}</Link> },
    { key: '/models', icon: <RobotOutlined />, label: <Link to="/models">{t('nav.models')}</Link> },
    { key: '/jobs', icon: <ExperimentOutlined />, label: <Link to="/jobs">{t('nav.jobs')}</Link> },
    { key: '/playground', icon: <MessageOutlined />, label: <Link to="/playground" data-testid="nav-playground">{t('nav.playground')}</Link> },
    ...(isAdmin ? [{ key: '/users', icon: <TeamOutlined />, label: <Link to="/users">{t('nav.users')}</Link> }] : []),
  ];
  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Sider breakpoint="lg" collapsedWidth={56} theme="dark" width={200}>
        <div style={{ color: '#fff', fontWeight: 600, fontSize: 16, padding: '18px 16px', whiteSpace: 'nowrap', overflow: 'hidden' }}>
          <span style={{ background: '#1677ff', borderRadius: 6, padding: '2px 6px', marginRight: 8 }}>岐</span>
          {t('app.short')}
        </div>
        <Menu theme="dark" mode="inline" selectedKeys={[section]} items={items} />
      </Layout.Sider>
      <Layout>
        <Layout.Header style={{ background: '#fff', padding: '0 24px', display: 'flex', alignItems: 'center', justifyContent: 'space-between', borderBottom: '1px solid #f0f0f0' }}>
          <Typography.Title level={4} style={{ margin: 0 }}>
            {t('app.title')}
          </Typography.Title>
          <Space>
            <LangSwitch />
            {user && (
              <Dropdown
                menu={{
                  items: [{ key: 'logout', icon: <LogoutOutlined />, label: t('nav.logout') }],
                  onClick: async () => {
                    await logout();
                    navigate('/login');
                  },
                }}
              >
                <Button type="text" icon={<UserOutlined />} data-testid="user-menu">
                  {user.username} <Tag style={{ marginLeft: 6 }}>{t(`role.${user.role}` as MessageKey)}</Tag>
                </Button>
              </Dropdown>
            )}
          </Space>
        </Layout.Header>
        <Layout.Content style={{ padding: 24 }}>{children}</Layout.Content>
      </Layout>
    </Layout>
  );
}

function NotFound() {
  const { t } = useI18n();
  return <Result status="404" title="404" subTitle={t('common.notFound')} extra={<Link to="/">{t('nav.dashboard')}</Link>} />;
}

function Protected({ children }: { children: ReactNode }) {
  return (
    <RequireAuth>
      <Frame>{children}</Frame>
    </RequireAuth>
  );
}

export default function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/" element={<Protected><DashboardPage /></Protected>} />
      <Route path="/datasets" element={<Protected><DatasetsPage /></Protected>} />
      <Route path="/datasets/:id" element={<Protected><DatasetDetailPage /></Protected>} />
      <Route path="/models" element={<Protected><ModelsPage /></Protected>} />
      <Route path="/jobs" element={<Protected><JobsPage /></Protected>} />
      <Route path="/jobs/new" element={<Protected><JobCreatePage /></Protected>} />
      <Route path="/jobs/:id" element={<Protected><JobDetailPage /></Protected>} />
      <Route path="/playground" element={<Protected><PlaygroundPage /></Protected>} />
      <Route path="/users" element={<Protected><UsersPage /></Protected>} />
      <Route path="*" element={<Protected><NotFound /></Protected>} />
    </Routes>
  );
}
