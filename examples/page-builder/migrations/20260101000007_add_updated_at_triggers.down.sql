DROP TRIGGER pages_touch_updated_at ON pages;
DROP TRIGGER sites_touch_updated_at ON sites;
DROP TRIGGER users_touch_updated_at ON users;
DROP FUNCTION touch_updated_at();
