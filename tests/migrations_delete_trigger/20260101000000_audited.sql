-- A schema whose DELETE sets off a trigger that writes elsewhere: a reset must not run it,
-- or the audit row it writes would outlive the reset.
CREATE TABLE parent (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE child (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint NOT NULL REFERENCES parent (id) ON DELETE RESTRICT
);
CREATE TABLE audit (what text NOT NULL);
CREATE FUNCTION audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit VALUES ('deleted child ' || OLD.id);
    RETURN OLD;
END $$;
CREATE TRIGGER child_audit AFTER DELETE ON child FOR EACH ROW EXECUTE FUNCTION audit_delete();
