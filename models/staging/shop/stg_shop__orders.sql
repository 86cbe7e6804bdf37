{%- set contract = event_contract('orders') %}

with

source as (

    select * from {{ source('bronze', 'kafka_events') }}
    where topic = '{{ var("orders_topic") }}'

),

currencies as (

    select * from {{ ref('currencies') }}

),

parsed as (

    select {{ kafka_event_columns('value') }}
    from source

),

typed as (

    select
        *,
        {{ contract_columns(contract, 'payload') }},
        {{ contract_structure_error(contract, 'payload') }} as structure_error
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
        coalesce(message_error, structure_error) is not null as is_malformed,
        {{ contract_invalid_reason(
            contract, 'payload', 'raw_value', lookups={'currency': 'is_known_currency'}
        ) }} as invalid_reason
    from with_currency

),

final as (

    select
        event_id,
        order_id,
        customer_id,
        {{ hash_email('customer_email') }} as customer_email_hash,
        event_type,
        event_ts as event_at,
        status,
        currency,
        cast(order_total as decimal(18, 2)) as order_total,
        transform(
            items,
            item -> named_struct(
                'sku', item.sku,
                'quantity', item.quantity,
                'unit_price', cast(item.unit_price as decimal(18, 2))
            )
        ) as items,
        schema_version,
        channel,
        {{ contract_payload_hash(contract) }} as payload_hash,
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
