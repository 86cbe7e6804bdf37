{#-
    Payment events from bronze, parsed per the contract (ingest/contracts/payments.v1.json)
    into typed columns, each flagged valid or not with the first reason it is not.
-#}

{%- set allowed_fields = [
    'event_id', 'event_ts', 'payment_id', 'order_id', 'amount', 'currency', 'method',
    'status', 'schema_version',
] %}

with

source as (

    select * from {{ source('bronze', 'kafka_events') }}
    where topic = '{{ var("payments_topic") }}'

),

currencies as (

    select * from {{ ref('currencies') }}

),

parsed as (

    select
        topic as kafka_topic,
        partition as kafka_partition,
        offset as kafka_offset,
        kafka_timestamp as published_at,
        _ingested_at,
        ingest_date,
        value as raw_value,
        {{ raw_message_error('value') }} as message_error,
        case when is_valid_utf8(value) then try_parse_json(value) end as payload
    from source

),

typed as (

    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        published_at,
        _ingested_at,
        ingest_date,
        raw_value,
        message_error,
        variant_get(payload, '$.event_id', 'string') as event_id,
        {{ rfc3339_timestamp("variant_get(payload, '$.event_ts', 'string')") }} as event_at,
        variant_get(payload, '$.payment_id', 'string') as payment_id,
        variant_get(payload, '$.order_id', 'string') as order_id,
        try_variant_get(payload, '$.amount', 'decimal(38,6)') as amount_exact,
        variant_get(payload, '$.currency', 'string') as currency,
        variant_get(payload, '$.method', 'string') as method,
        variant_get(payload, '$.status', 'string') as status,
        try_variant_get(payload, '$.schema_version', 'int') as schema_version,
        {{ json_unexpected_keys('raw_value', allowed_fields) }} as unexpected_fields,
        {{ json_shape_error('payload', {
            'event_id': 'string',
            'event_ts': 'timestamp',
            'payment_id': 'string',
            'order_id': 'string',
            'amount': 'number',
            'currency': 'string',
            'method': 'string',
            'status': 'string',
            'schema_version': 'integer',
        }) }} as shape_error
    from parsed

),

with_currency as (

    select
        typed.*,
        currencies.currency_code is not null as is_known_currency
    from typed
    left join currencies on typed.currency = currencies.currency_code

),

checked as (

    select
        *,
        coalesce(message_error, shape_error) is not null as is_malformed,
        case
            when message_error is not null then message_error
            when shape_error is not null then shape_error
            when size(unexpected_fields) > 0
                then concat('unexpected field: ', array_join(unexpected_fields, ', '))
            when not event_id rlike '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then 'malformed event_id: not a UUID'
            when payment_id = '' then 'empty payment_id'
            when order_id = '' then 'empty order_id'
            when amount_exact < 0 then 'negative amount'
            when amount_exact != round(amount_exact, 2) then 'amount has more than 2 decimals'
            when not currency rlike '^[A-Z]{3}$' then concat('malformed currency: ', currency)
            when not is_known_currency then concat('unknown currency: ', currency)
            when method not in ('card', 'paypal', 'bank_transfer', 'gift_card')
                then concat('unknown method: ', method)
            when status not in ('authorized', 'captured', 'refunded', 'failed')
                then concat('unknown status: ', status)
            when schema_version != 1 then concat('unknown schema_version: ', schema_version)
        end as invalid_reason
    from with_currency

),

final as (

    select
        event_id,
        payment_id,
        order_id,
        event_at,
        status,
        method,
        currency,
        cast(amount_exact as decimal(18, 2)) as amount,
        schema_version,
        invalid_reason is null as is_valid,
        invalid_reason,
        is_malformed,
        {{ redact_emails('raw_value') }} as raw_value,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        published_at,
        _ingested_at,
        ingest_date
    from checked

)

select * from final
