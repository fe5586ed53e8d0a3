DROP TABLE console_audit;
DROP TABLE console_login_attempts;
DROP TABLE console_api_tokens;
DROP TABLE console_sessions;
DROP TABLE console_users;
