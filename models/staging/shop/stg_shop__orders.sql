{#-
    Order events from bronze, parsed per the contract (ingest/contracts/orders.v2.json) into
    typed columns, each flagged valid or not with the first reason it is not. The plain e-mail
    stops here: only its salted hash goes on.
-#}

{%- set allowed_fields = [
    'event_id', 'event_type', 'event_ts', 'order_id', 'customer_id', 'customer_email',
    'status', 'currency', 'order_total', 'items', 'schema_version', 'channel',
] %}

with

source as (

    select * from {{ source('bronze', 'kafka_events') }}
    where topic = '{{ var("orders_topic") }}'

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
        variant_get(payload, '$.event_type', 'string') as event_type,
        {{ rfc3339_timestamp("variant_get(payload, '$.event_ts', 'string')") }} as event_at,
        variant_get(payload, '$.order_id', 'string') as order_id,
        variant_get(payload, '$.customer_id', 'string') as customer_id,
        variant_get(payload, '$.customer_email', 'string') as customer_email,
        variant_get(payload, '$.status', 'string') as status,
        variant_get(payload, '$.currency', 'string') as currency,
        try_variant_get(payload, '$.order_total', 'decimal(38,6)') as order_total_exact,
        try_variant_get(
            payload, '$.items', 'array<struct<sku:string,quantity:int,unit_price:decimal(38,6)>>'
        ) as items_exact,
        try_variant_get(payload, '$.schema_version', 'int') as schema_version,
        variant_get(payload, '$.channel', 'string') as channel,
        {{ json_type('payload', '$.channel') }} as channel_json_type,
        {{ json_unexpected_keys('raw_value', allowed_fields) }} as unexpected_fields,
        {{ json_shape_error('payload', {
            'event_id': 'string',
            'event_type': 'string',
            'event_ts': 'timestamp',
            'order_id': 'string',
            'customer_id': 'string',
            'customer_email': 'string',
            'status': 'string',
            'currency': 'string',
            'order_total': 'number',
            'items': 'array',
            'schema_version': 'integer',
        }) }} as shape_error,
        {{ json_array_shape_error('payload', 'items', {
            'sku': 'string',
            'quantity': 'integer',
            'unit_price': 'number',
        }) }} as items_shape_error
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
        coalesce(message_error, shape_error, items_shape_error) is not null as is_malformed,
        case
            when message_error is not null then message_error
            when shape_error is not null then shape_error
            when items_shape_error is not null then items_shape_error
            when size(unexpected_fields) > 0
                then concat('unexpected field: ', array_join(unexpected_fields, ', '))
            when not event_id rlike '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then 'malformed event_id: not a UUID'
            when event_type not in ('order_placed', 'order_updated', 'order_cancelled')
                then concat('unknown event_type: ', event_type)
            when order_id = '' then 'empty order_id'
            when customer_id = '' then 'empty customer_id'
            when status not in ('placed', 'paid', 'shipped', 'delivered', 'cancelled')
                then concat('unknown status: ', status)
            when not currency rlike '^[A-Z]{3}$' then concat('malformed currency: ', currency)
            when not is_known_currency then concat('unknown currency: ', currency)
            when order_total_exact < 0 then 'negative order_total'
            when order_total_exact != round(order_total_exact, 2)
                then 'order_total has more than 2 decimals'
            when size(items_exact) = 0 then 'no items'
            when exists(items_exact, item -> item.quantity <= 0) then 'item quantity not positive'
            when exists(items_exact, item -> item.unit_price < 0) then 'negative item unit_price'
            when exists(items_exact, item -> item.unit_price != round(item.unit_price, 2))
                then 'item unit_price has more than 2 decimals'
            when schema_version not in (1, 2)
                then concat('unknown schema_version: ', schema_version)
            when channel_json_type is not null and channel_json_type != 'STRING'
                then concat('wrong type: channel is ', channel_json_type, ', expected string')
            when channel is not null and schema_version = 1
                then 'channel needs schema_version 2'
            when channel not in ('web', 'app', 'store') then concat('unknown channel: ', channel)
        end as invalid_reason
    from with_currency

),

final as (

    select
        event_id,
        order_id,
        customer_id,
        {{ hash_email('customer_email') }} as customer_email_hash,
        event_type,
        event_at,
        status,
        currency,
        cast(order_total_exact as decimal(18, 2)) as order_total,
        transform(
            items_exact,
            item -> named_struct(
                'sku', item.sku,
                'quantity', item.quantity,
                'unit_price', cast(item.unit_price as decimal(18, 2))
            )
        ) as items,
        schema_version,
        channel,
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
