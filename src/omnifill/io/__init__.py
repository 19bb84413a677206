"""omnifill's file formats (docs/file-formats.md): reading, checking and writing them.

Reading is two steps. ``read_table`` turns a CSV, Parquet or JSON Lines file into raw
columns (values as the file has them) plus the physical line of each row. The ``load_*``
functions then convert and check every column, collecting every problem (up to a cap) as a
``Problem`` naming the file, the row, the column and the value, and raise one ``InputError``
at the end. Nothing here builds indexes (model does) or writes partial output: writers go to
a temporary file in the target directory and rename it into place.

Row numbers are 1-based data rows (the header is not a row). For text files the physical
line is given too.

Rooms, each importing only those above it:

    formats     raw tables from CSV / Parquet / JSON Lines; Problems
    columns     typing and checking one column (float_col, int_col, str_col, ...)
    contracts   the stores, inventory, orders and zones files, loaded and checked
    arrow       vectorised fast paths for large valid Parquet tables (never decide an error)
    writers     atomic writes, files written together, the plan writer
"""

from .arrow import (
    arrow_inventory,
    arrow_orders,
)
from .columns import (
    bool_col,
    coords_of,
    enum_col,
    extra_columns,
    float_col,
    index_lookup,
    int_col,
    is_missing,
    require_columns,
    str_col,
)
from .contracts import (
    ORDER_COLUMNS,
    ORDER_LEVEL,
    ORDER_MODES,
    STORE_COLUMNS,
    STORE_KINDS,
    InventoryTable,
    OrdersTable,
    StoresTable,
    ZoneFeature,
    load_inventory,
    load_inventory_table,
    load_orders,
    load_orders_table,
    load_stores,
    load_stores_table,
    load_zones,
    zones_from_triples,
)
from .formats import (
    DEFAULT_MAX_ERRORS,
    DEFAULT_PROMISE_MIN,
    FALSE_WORDS,
    TRUE_WORDS,
    Problems,
    Table,
    arrow_where,
    file_format,
    read_json_objects,
    read_rows,
    read_table,
    table_of,
)
from .writers import (
    PLAN_COLUMNS,
    atomic_write,
    check_output_path,
    check_plan_path,
    json_default,
    new_directory,
    write_csv,
    write_plan,
    write_text,
    written_together,
)

__all__ = [
    "DEFAULT_MAX_ERRORS",
    "DEFAULT_PROMISE_MIN",
    "FALSE_WORDS",
    "InventoryTable",
    "ORDER_COLUMNS",
    "ORDER_LEVEL",
    "ORDER_MODES",
    "OrdersTable",
    "PLAN_COLUMNS",
    "Problems",
    "STORE_COLUMNS",
    "STORE_KINDS",
    "StoresTable",
    "TRUE_WORDS",
    "Table",
    "ZoneFeature",
    "arrow_inventory",
    "arrow_orders",
    "arrow_where",
    "atomic_write",
    "bool_col",
    "check_output_path",
    "check_plan_path",
    "coords_of",
    "enum_col",
    "extra_columns",
    "file_format",
    "float_col",
    "index_lookup",
    "int_col",
    "is_missing",
    "json_default",
    "load_inventory",
    "load_inventory_table",
    "load_orders",
    "load_orders_table",
    "load_stores",
    "load_stores_table",
    "load_zones",
    "new_directory",
    "read_json_objects",
    "read_rows",
    "read_table",
    "require_columns",
    "str_col",
    "table_of",
    "write_csv",
    "write_plan",
    "write_text",
    "written_together",
    "zones_from_triples",
]
