{% macro hash_email(email) -%}
    {#-
        Personal data never leaves staging in plain text: sha2(lower(trim(email)) || salt, 256).
        The salt comes from LAKEHOUSE_EMAIL_SALT; the default is for development only.
    -#}
    sha2(concat(lower(trim({{ email }})), '{{ env_var("LAKEHOUSE_EMAIL_SALT", "lakehouse-dev-salt") }}'), 256)
{%- endmacro %}


{% macro redact_emails(text) -%}
    {#-
        Quarantine keeps raw payloads for debugging, with e-mail addresses masked. A match
        starts only where a run of address characters starts, and the run is not backtracked
        (possessive ++): linear time. Without that, a 1 MB payload with no `@` takes the
        regex engine hours (every start position rescans the rest of the run).
    -#}
    regexp_replace({{ text }}, '(?<![^"\\s@])[^"\\s@]++@[^"\\s@]+', '<redacted email>')
{%- endmacro %}
