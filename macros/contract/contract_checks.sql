{#-
    Staging's parsing and checks, driven by event_contract(name) (generated from the JSON
    Schemas: ingest/contract_dbt.py), so that a new field, enum value or rule is one edit to
    the schema. The reasons a row is invalid are the first rule it breaks, in schema order:
    docs/contract.md.
-#}

{% macro kafka_event_columns(value='value') -%}
    {#-
        Bronze's Kafka coordinates under staging's names, the raw value and its parse. An Avro
        record bronze decoded has its contract JSON in `value`; one it could not decode has
        none and says why in `value_error`. Its raw_value only names it: its bytes may hold an
        e-mail that no mask could find in an encoding (they stay in bronze and the dead letter).
    -#}
    topic as kafka_topic,
    partition as kafka_partition,
    offset as kafka_offset,
    kafka_timestamp as published_at,
    _ingested_at,
    ingest_date,
    value_format,
    schema_id,
    coalesce(
        {{ value }},
        case when value_bytes is not null then concat(
            '<undecoded Avro: ', length(value_bytes), ' bytes, schema id ',
            coalesce(cast(schema_id as string), 'none'), '>'
        ) end
    ) as raw_value,
    coalesce(value_error, {{ raw_message_error(value) }}) as message_error,
    case when is_valid_utf8({{ value }}) then try_parse_json({{ value }}) end as payload
{%- endmacro %}


{% macro contract_sql_type(field) -%}
    {#- The Spark type a field is read as: exact decimals, so that the rules see the JSON. -#}
    {%- if field.type in ('string', 'timestamp') -%} string
    {%- elif field.type == 'integer' -%} int
    {%- elif field.type == 'number' -%} decimal(38,6)
    {%- elif field.type == 'array' -%}
        array<struct<
        {%- for item in field['items'] -%}
            {{ item.name }}:{{ contract_sql_type(item) }}{{ ',' if not loop.last }}
        {%- endfor -%}
        >>
    {%- else -%}
        {{ exceptions.raise_compiler_error('contract_sql_type: no Spark type for ' ~ field.type) }}
    {%- endif -%}
{%- endmacro %}


{% macro contract_columns(contract, payload='payload') -%}
    {#-
        One column per field of the contract, named as the field: timestamps in UTC, numbers
        as decimal(38,6) (staging rounds them once checked), arrays of structs; null when
        absent or of another type.
    -#}
    {%- for field in contract.fields %}
        {%- set path = "'$." ~ field.name ~ "'" %}
        {%- if field.type == 'timestamp' %}
    {{ rfc3339_timestamp("variant_get(" ~ payload ~ ", " ~ path ~ ", 'string')") }} as {{ field.name }}
        {%- elif field.type == 'string' %}
    variant_get({{ payload }}, {{ path }}, 'string') as {{ field.name }}
        {%- else %}
    try_variant_get({{ payload }}, {{ path }}, '{{ contract_sql_type(field) }}') as {{ field.name }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{% macro contract_payload_hash(contract) -%}
    {#-
        A digest of what the event says, every contract field but event_id, as typed by
        contract_columns: two deliveries of one event_id with the same digest are one event
        delivered twice; with different digests, a conflict (docs/design.md). Typed fields, so
        that key order, white space and the wire format do not count.
    -#}
    sha2(to_json(struct(
        {%- for field in contract.fields if field.name != 'event_id' %}
        {{ field.name }}{{ ',' if not loop.last }}
        {%- endfor %}
    )), 256)
{%- endmacro %}


{% macro contract_structure_error(contract, payload='payload') -%}
    {#-
        Why the payload breaks the contract's structure (a required field missing or of
        another type, an element of an array of objects), or null: what the ingest job
        dead-letters.
    -#}
    {%- set required = {} -%}
    {%- for field in contract.fields if field.required -%}
        {%- do required.update({field.name: field.type}) -%}
    {%- endfor -%}
    coalesce(
        {{ json_shape_error(payload, required) | indent(8) }}
        {%- for field in contract.fields if field.type == 'array' and field.required %},
        {% set shape = {} -%}
        {%- for item in field['items'] if item.required -%}
            {%- do shape.update({item.name: item.type}) -%}
        {%- endfor -%}
        {{ json_array_shape_error(payload, field.name, shape) | indent(8) }}
        {%- endfor %}
    )
{%- endmacro %}


{% macro contract_literal(value) -%}
    {%- if value is string -%} '{{ value }}' {%- else -%} {{ value }} {%- endif -%}
{%- endmacro %}


{% macro contract_value_rules(field, column, label) -%}
    {#-
        One field's value rules, in a fixed order, as [condition that breaks it, reason]:
        the reason quotes the value where it helps, unless `label` is for an array element
        (the reason then cannot see the element).
    -#}
    {%- set quoted = column if '[]' not in label else none -%}
    {%- set rules = [] -%}
    {%- if field.pattern is defined -%}
        {%- do rules.append([
            "not " ~ column ~ " rlike '" ~ field.pattern | replace("\\", "\\\\") ~ "'",
            "concat('malformed " ~ label ~ ": ', " ~ quoted ~ ")" if quoted else "'malformed " ~ label ~ "'"]) -%}
    {%- endif -%}
    {%- if field.enum is defined -%}
        {%- set values = [] -%}
        {%- for v in field.enum -%}
            {%- do values.append("'" ~ v ~ "'" if v is string else v | string) -%}
        {%- endfor -%}
        {%- do rules.append([
            column ~ " not in (" ~ values | join(', ') ~ ")",
            "concat('unknown " ~ label ~ ": ', " ~ quoted ~ ")" if quoted else "'unknown " ~ label ~ "'"]) -%}
    {%- endif -%}
    {%- if field.min_length is defined -%}
        {%- do rules.append([
            "length(" ~ column ~ ") < " ~ field.min_length,
            "'empty " ~ label ~ "'" if field.min_length == 1
            else "'" ~ label ~ " shorter than " ~ field.min_length ~ "'"]) -%}
    {%- endif -%}
    {%- if field.minimum is defined -%}
        {%- do rules.append([
            column ~ " < " ~ field.minimum,
            "'negative " ~ label ~ "'" if field.minimum == 0
            else "'" ~ label ~ " below " ~ field.minimum ~ "'"]) -%}
    {%- endif -%}
    {%- if field.exclusive_minimum is defined -%}
        {%- do rules.append([
            column ~ " <= " ~ field.exclusive_minimum,
            "'" ~ label ~ (" not positive" if field.exclusive_minimum == 0
            else " not above " ~ field.exclusive_minimum) ~ "'"]) -%}
    {%- endif -%}
    {%- if field.decimals is defined -%}
        {%- do rules.append([
            column ~ " != round(" ~ column ~ ", " ~ field.decimals ~ ")",
            "'" ~ label ~ " has more than " ~ field.decimals ~ " decimals'"]) -%}
    {%- endif -%}
    {{ return(rules) }}
{%- endmacro %}


{% macro contract_invalid_reason(contract, payload='payload', raw_value='raw_value', lookups={}) -%}
    {#-
        The first reason a row breaks the contract, or null: the raw message (message_error),
        its structure (structure_error), unexpected fields, then each field's value rules in
        schema order. `lookups` adds a check after a field's own: {field: boolean column},
        false when the value is not in a reference table (e.g. {'currency': 'is_known_currency'}).
    -#}
    {%- set versions = contract.fields | selectattr('name', 'equalto', 'schema_version') | first -%}
    {%- set unexpected = json_unexpected_keys(raw_value, contract.fields | map(attribute='name') | list) -%}
    case
        when message_error is not null then message_error
        when structure_error is not null then structure_error
    {%- if contract.closed %}
        when size({{ unexpected }}) > 0
            then concat('unexpected field: ', array_join({{ unexpected }}, ', '))
    {%- endif %}
    {%- for field in contract.fields %}
        {%- if not field.required %}
        when {{ json_type(payload, '$.' ~ field.name) }} is not null
            and not {{ json_type_matches(json_type(payload, '$.' ~ field.name), field.type) }}
            then concat('wrong type: {{ field.name }} is ', {{ json_type(payload, '$.' ~ field.name) }}, ', expected {{ field.type }}')
        {%- endif %}
        {%- if field.absent_in_versions is defined %}
        when {{ field.name }} is not null and schema_version in ({{ field.absent_in_versions | join(', ') }})
            then '{{ field.name }} needs schema_version {{ versions.enum | reject("in", field.absent_in_versions) | join(" or ") }}'
        {%- endif %}
        {%- for condition, reason in contract_value_rules(field, field.name, field.name) %}
        when {{ condition }}
            then {{ reason }}
        {%- endfor %}
        {%- if field.min_items is defined %}
        when size({{ field.name }}) < {{ field.min_items }}
            then '{{ "no " ~ field.name if field.min_items == 1 else "fewer than " ~ field.min_items ~ " " ~ field.name }}'
        {%- endif %}
        {%- for item in field.get('items', []) %}
            {%- for condition, reason in contract_value_rules(item, 'element.' ~ item.name, field.name ~ '[].' ~ item.name) %}
        when exists({{ field.name }}, element -> {{ condition }})
            then {{ reason }}
            {%- endfor %}
        {%- endfor %}
        {%- if field.name in lookups %}
        when not {{ lookups[field.name] }}
            then concat('unknown {{ field.name }}: ', {{ field.name }})
        {%- endif %}
    {%- endfor %}
    end
{%- endmacro %}
