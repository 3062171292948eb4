-- 008: secret environment entries of templates (Template.secret_env), kept
-- apart from the env column so that no read of templates returns a value:
-- reads answer "KEY=***" from the keys alone, and only a launch reads the
-- values, to pass them to the container. A template's secrets go with it.
CREATE TABLE template_secrets (
    template TEXT NOT NULL REFERENCES templates (name) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (template, key)
) STRICT;
