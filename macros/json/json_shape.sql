{#-
    JSON helpers for staging: check a payload's shape (fields present, each of its JSON type)
    in SQL, on Spark 4's VARIANT (try_parse_json). A typed from_json would turn "19.99", a
    string, into a number without a word; variant keeps the JSON type of every value.
-#}

{% macro raw_message_error(value) -%}
    {#-
        Why the raw Kafka value cannot be a JSON document at all, or null: no value (a
        tombstone, or a producer that sent none), or bytes that are not UTF-8. Spark's JSON
        parser would read the second kind with replacement characters, so check before parsing.
    -#}
    case
        when {{ value }} is null then 'empty message (null value)'
        when not is_valid_utf8({{ value }}) then 'not UTF-8'
    end
{%- endmacro %}


{% macro json_type(payload, path) -%}
    schema_of_variant(variant_get({{ payload }}, '{{ path }}'))
{%- endmacro %}


{% macro json_type_matches(type_sql, expected) -%}
    {%- if expected == 'string' or expected == 'timestamp' -%}
        {{ type_sql }} = 'STRING'
    {%- elif expected == 'integer' -%}
        {{ type_sql }} = 'BIGINT'
    {%- elif expected == 'number' -%}
        ({{ type_sql }} in ('BIGINT', 'DOUBLE') or {{ type_sql }} like 'DECIMAL(%')
    {%- elif expected == 'array' -%}
        {{ type_sql }} like 'ARRAY<%'
    {%- elif expected == 'object' -%}
        {{ type_sql }} like 'OBJECT<%'
    {%- else -%}
        {{ exceptions.raise_compiler_error('json_type_matches: unknown JSON type ' ~ expected) }}
    {%- endif -%}
{%- endmacro %}


{% macro rfc3339_timestamp(text_sql) -%}
    {#- An RFC 3339 timestamp with an offset, as UTC; null when the text is not one. -#}
    case
        when {{ text_sql }} rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'
            then try_to_timestamp({{ text_sql }})
    end
{%- endmacro %}


{% macro json_shape_error(payload, fields) -%}
    {#-
        Why the payload is not an object with every field of `fields` ({name: JSON type}) of its
        type, or null. Types: string, timestamp (RFC 3339 string), integer, number, array.
    -#}
    case
        when {{ payload }} is null then 'not JSON'
        when not {{ json_type_matches(json_type(payload, '$'), 'object') }} then 'not a JSON object'
        {%- for name, expected in fields.items() %}
        when coalesce({{ json_type(payload, '$.' ~ name) }}, 'VOID') = 'VOID'
            then 'missing field: {{ name }}'
        when not {{ json_type_matches(json_type(payload, '$.' ~ name), expected) }}
            then concat('wrong type: {{ name }} is ', {{ json_type(payload, '$.' ~ name) }}, ', expected {{ expected }}')
        {%- if expected == 'timestamp' %}
        when {{ rfc3339_timestamp("variant_get(" ~ payload ~ ", '$." ~ name ~ "', 'string')") }} is null
            then 'wrong type: {{ name }} is not an RFC 3339 timestamp with an offset'
        {%- endif %}
        {%- endfor %}
    end
{%- endmacro %}


{% macro json_array_shape_error(payload, array_field, fields) -%}
    {#- Like json_shape_error, for every element of an array of objects. -#}
    case
        when exists(
            variant_get({{ payload }}, '$.{{ array_field }}', 'array<variant>'),
            element -> not coalesce(
                {{ json_type_matches(json_type('element', '$'), 'object') }}
                {%- for name, expected in fields.items() %}
                and {{ json_type_matches(json_type('element', '$.' ~ name), expected) }}
                {%- endfor %},
                false
            )
        )
            then 'wrong type or missing field in {{ array_field }}[]: expected {{ fields | tojson | replace("\"", "") }}'
    end
{%- endmacro %}


{% macro json_unexpected_keys(raw_json, allowed) -%}
    {#- The top-level keys of a JSON object text that are not in `allowed` (an array). -#}
    array_except(json_object_keys({{ raw_json }}), array('{{ allowed | join("', '") }}'))
{%- endmacro %}
