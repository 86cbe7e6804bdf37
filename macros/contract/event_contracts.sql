{#-
    Generated from ingest/contracts/orders.v2.json, ingest/contracts/payments.v1.json
    by `python -m ingest.contract_dbt` (ingest/contract_dbt.py): do not edit; edit the
    JSON Schema and run it again. tests/python/test_contract_dbt.py fails when stale.
-#}

{% macro event_contract(name) %}
    {%- set contracts = {
        'orders': {
            'name': 'orders',
            'version': 2,
            'closed': true,
            'fields': [
                {'name': 'event_id', 'type': 'string', 'required': true, 'pattern': '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'},
                {'name': 'event_type', 'type': 'string', 'required': true, 'enum': ['order_placed', 'order_updated', 'order_cancelled']},
                {'name': 'event_ts', 'type': 'timestamp', 'required': true},
                {'name': 'order_id', 'type': 'string', 'required': true, 'min_length': 1},
                {'name': 'customer_id', 'type': 'string', 'required': true, 'min_length': 1},
                {'name': 'customer_email', 'type': 'string', 'required': true},
                {'name': 'status', 'type': 'string', 'required': true, 'enum': ['placed', 'paid', 'shipped', 'delivered', 'cancelled']},
                {'name': 'currency', 'type': 'string', 'required': true, 'pattern': '^[A-Z]{3}$'},
                {'name': 'order_total', 'type': 'number', 'required': true, 'minimum': 0, 'decimals': 2},
                {
                    'name': 'items',
                    'type': 'array',
                    'required': true,
                    'min_items': 1,
                    'items': [
                        {'name': 'sku', 'type': 'string', 'required': true, 'min_length': 1},
                        {'name': 'quantity', 'type': 'integer', 'required': true, 'exclusive_minimum': 0},
                        {'name': 'unit_price', 'type': 'number', 'required': true, 'minimum': 0, 'decimals': 2},
                    ],
                },
                {'name': 'schema_version', 'type': 'integer', 'required': true, 'enum': [1, 2]},
                {
                    'name': 'channel',
                    'type': 'string',
                    'required': false,
                    'enum': ['web', 'app', 'store'],
                    'absent_in_versions': [1],
                },
            ],
        },
        'payments': {
            'name': 'payments',
            'version': 1,
            'closed': true,
            'fields': [
                {'name': 'event_id', 'type': 'string', 'required': true, 'pattern': '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'},
                {'name': 'event_ts', 'type': 'timestamp', 'required': true},
                {'name': 'payment_id', 'type': 'string', 'required': true, 'min_length': 1},
                {'name': 'order_id', 'type': 'string', 'required': true, 'min_length': 1},
                {'name': 'amount', 'type': 'number', 'required': true, 'minimum': 0, 'decimals': 2},
                {'name': 'currency', 'type': 'string', 'required': true, 'pattern': '^[A-Z]{3}$'},
                {'name': 'method', 'type': 'string', 'required': true, 'enum': ['card', 'paypal', 'bank_transfer', 'gift_card']},
                {'name': 'status', 'type': 'string', 'required': true, 'enum': ['authorized', 'captured', 'refunded', 'failed']},
                {'name': 'schema_version', 'type': 'integer', 'required': true, 'enum': [1]},
            ],
        },
    } -%}
    {%- if name not in contracts -%}
        {{ exceptions.raise_compiler_error(
            "event_contract: no contract named '" ~ name ~ "' (known: "
            ~ contracts.keys() | sort | join(', ') ~ ")") }}
    {%- endif -%}
    {{ return(contracts[name]) }}
{% endmacro %}
