-- Keep `updated_at` honest without relying on every writer to set it.
-- An UPDATE that sets `updated_at` explicitly keeps its value.
CREATE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TRIGGER sites_touch_updated_at
    BEFORE UPDATE ON sites
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TRIGGER pages_touch_updated_at
    BEFORE UPDATE ON pages
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
