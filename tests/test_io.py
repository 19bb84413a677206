"""Loaders: every bad input is an InputError naming the file, the row, the column and the value."""

import json

import numpy as np
import pytest

import omnifill
from omnifill.errors import InputError
from omnifill.io import load_inventory, load_orders, load_stores, load_zones, read_table

STORES = "store_id,lat,lon,city,kind\nA,31.20,121.40,sh,store\nB,31.21,121.41,sh,warehouse\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def problem(excinfo):
    return excinfo.value.problems


def one(excinfo):
    probs = problem(excinfo)
    assert len(probs) == 1, [str(p) for p in probs]
    return probs[0]


@pytest.mark.parametrize("text,row,col,value,msg", [
    ("store_id,lat,lon\nA,91,121.4\n", 1, "lat", "91", "out of range"),
    ("store_id,lat,lon\nA,31.2,-180.5\n", 1, "lon", "-180.5", "out of range"),
    ("store_id,lat,lon\nA,31.2,121.4\nB,abc,121.4\n", 2, "lat", "abc", "not a latitude"),
    ("store_id,lat,lon\nA,nan,121.4\n", 1, "lat", "nan", "NaN"),
    ("store_id,lat,lon\nA,31.2,121.4\nA,31.3,121.4\n", 2, "store_id", "A", "duplicate store id"),
    ("store_id,lat,lon,kind\nA,31.2,121.4,shop\n", 1, "kind", "shop", "not one of"),
    ("store_id,lat,lon\nA,31.2,\n", 1, "lon", "", "missing"),
    ("store_id,lat,lon,delivers\nA,31.2,121.4,maybe\n", 1, "delivers", "maybe", "boolean"),
    ("store_id,lat,lon,capacity\nA,31.2,121.4,2.5\n", 1, "capacity", "2.5", "whole number"),
    ("store_id,lat,lon,handling_min\nA,31.2,121.4,-3\n", 1, "handling_min", "-3", "out of range"),
])
def test_bad_store_rows(tmp_path, text, row, col, value, msg):
    with pytest.raises(InputError) as e:
        load_stores(write(tmp_path, "stores.csv", text))
    p = one(e)
    assert (p.row, p.column, p.value) == (row, col, value)
    assert msg in p.message
    assert p.file.endswith("stores.csv") and p.line == row + 1
    assert f"row {row}" in str(p) and repr(value) in str(p)


@pytest.mark.parametrize("text,col,msg", [
    ("store_id,lat\nA,31.2\n", "lon", "required column is missing"),
    ("id,lat,lon\nA,31.2,121.4\n", "store_id", "required column is missing"),
])
def test_missing_columns(tmp_path, text, col, msg):
    with pytest.raises(InputError) as e:
        load_stores(write(tmp_path, "stores.csv", text))
    p = one(e)
    assert p.column == col and msg in p.message and p.row is None


@pytest.mark.parametrize("text,msg", [("", "empty"), ("store_id,lat,lon\n", "no data rows")])
def test_empty_files(tmp_path, text, msg):
    with pytest.raises(InputError) as e:
        load_stores(write(tmp_path, "stores.csv", text))
    assert msg in one(e).message


def test_ragged_row_is_named(tmp_path):
    with pytest.raises(InputError) as e:
        load_stores(write(tmp_path, "stores.csv", "store_id,lat,lon\nA,31.2,121.4,extra\n"))
    assert "3 fields" not in one(e).message and "4 fields" in one(e).message


@pytest.mark.parametrize("text,row,col,value,msg", [
    ("store_id,sku,on_hand\nA,x,-1\n", 1, "on_hand", "-1", "out of range"),
    ("store_id,sku,on_hand\nA,x,1.5\n", 1, "on_hand", "1.5", "whole number"),
    ("store_id,sku,on_hand\nZ,x,1\n", 1, "store_id", "Z", "not in the stores file"),
    ("store_id,sku,on_hand,safety_stock\nA,x,1,-2\n", 1, "safety_stock", "-2", "out of range"),
    ("store_id,sku,on_hand\nA,x,1\nA,x,2\n", 2, "sku", "x", "duplicate"),
    ("store_id,sku,on_hand\nA,,1\n", 1, "sku", "", "missing"),
])
def test_bad_inventory_rows(tmp_path, text, row, col, value, msg):
    idx = {"A": 0, "B": 1}
    with pytest.raises(InputError) as e:
        load_inventory(write(tmp_path, "inv.csv", text), idx)
    p = one(e)
    assert (p.row, p.column, p.value) == (row, col, value) and msg in p.message


ORD = "order_id,lat,lon,sku,qty\n"


@pytest.mark.parametrize("text,row,col,value,msg", [
    (ORD + "o,31.2,121.4,x,0\n", 1, "qty", "0", "out of range"),
    (ORD + "o,31.2,121.4,x,-2\n", 1, "qty", "-2", "out of range"),
    (ORD + "o,31.2,121.4,x,1.5\n", 1, "qty", "1.5", "whole number"),
    (ORD + "o,31.2,121.4,x,two\n", 1, "qty", "two", "not a whole quantity"),
    (ORD + "o,31.2,190,x,1\n", 1, "lon", "190", "out of range"),
    ("order_id,lat,lon,sku,qty,mode\no,31.2,121.4,x,1,drone\n", 1, "mode", "drone", "not one of"),
    ("order_id,lat,lon,sku,qty,home_store\no,31.2,121.4,x,1,Q\n", 1, "home_store", "Q", "not in the stores file"),
    ("order_id,lat,lon,sku,qty,current_store\no,31.2,121.4,x,1,Q\n", 1, "current_store", "Q", "not in the stores file"),
    ("order_id,lat,lon,sku,qty,mode\no,31.2,121.4,x,1,pickup\n", 1, "pickup_store", None, "must name its pickup store"),
    ("order_id,lat,lon,sku,qty,promise_min\no,31.2,121.4,x,1,0\n", 1, "promise_min", "0", "out of range"),
    (ORD + "o,31.2,121.4,x,1\no,31.3,121.4,y,1\n", 2, "lat", "31.3", "differs from this order's first line"),
])
def test_bad_order_rows(tmp_path, text, row, col, value, msg):
    with pytest.raises(InputError) as e:
        load_orders(write(tmp_path, "orders.csv", text), {"A": 0})
    p = one(e)
    assert (p.row, p.column, p.value) == (row, col, value) and msg in p.message


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    text = "store_id,lat,lon\nA,91,121.4\nA,31.2,999\nB,x,121.4\n"
    with pytest.raises(InputError) as e:
        load_stores(write(tmp_path, "stores.csv", text))
    cols = [(p.row, p.column) for p in problem(e)]
    assert cols == [(1, "lat"), (2, "store_id"), (2, "lon"), (3, "lat")]


def test_orders_group_lines_and_keep_defaults(tmp_path):
    p = write(tmp_path, "orders.csv", ORD + "o1,31.2,121.4,x,2\no2,31.3,121.5,y,1\no1,31.2,121.4,z,1\n")
    o = omnifill.OrderBatch.from_table(load_orders(p, None))
    assert o.order_id.tolist() == ["o1", "o2"]
    assert o.line_indptr.tolist() == [0, 2, 3]
    assert o.line_sku.tolist() == ["x", "z", "y"] and o.line_row.tolist() == [1, 3, 2]
    assert o.promise_min.tolist() == [60.0, 60.0] and o.mode.tolist() == ["deliver", "deliver"]


def test_orders_json_lines_in_both_shapes(tmp_path):
    p = write(tmp_path, "orders.jsonl", "\n".join([
        json.dumps({"order_id": "o1", "lat": 31.2, "lon": 121.4, "promise_min": 30,
                    "lines": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 1}]}),
        json.dumps({"order_id": "o2", "lat": 31.2, "lon": 121.4, "sku": "z", "qty": 1}),
    ]) + "\n")
    o = omnifill.OrderBatch.from_table(load_orders(p, None))
    assert o.order_id.tolist() == ["o1", "o2"] and o.line_qty.tolist() == [2, 1, 1]
    assert o.promise_min.tolist() == [30.0, 60.0]
    bad = write(tmp_path, "bad.jsonl", '{"order_id": "o1", "lat": 31.2, "lon": 121.4, "lines": []}\nnot json\n')
    with pytest.raises(InputError) as e:
        load_orders(bad, None)
    assert [p.line for p in problem(e)] == [1, 2]


def test_parquet_round_trip_and_bad_values(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "stores.parquet"
    pq.write_table(pa.table({"store_id": ["A", "B"], "lat": [31.2, float("nan")], "lon": [121.4, 121.5]}), p)
    with pytest.raises(InputError) as e:
        load_stores(p)
    assert (one(e).row, one(e).column) == (2, "lat")
    pq.write_table(pa.table({"store_id": ["A", "B"], "lat": [31.2, 31.3], "lon": [121.4, 121.5],
                             "capacity": pa.array([None, 4], pa.int64())}), p)
    st = load_stores(p)
    assert st.capacity.tolist() == [np.inf, 4.0]


def test_unknown_file_type_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown file type"):
        read_table(write(tmp_path, "stores.xlsx", "x"))
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_zone_file_problems(tmp_path):
    def fc(*features):
        return json.dumps({"type": "FeatureCollection", "features": list(features)})

    sq = {"type": "Polygon", "coordinates": [[[121, 31], [122, 31], [122, 32], [121, 32], [121, 31]]]}
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    cases = [
        ({"type": "Feature", "properties": {"store_id": "Z", "promise_min": 30}, "geometry": sq}, "store_id"),
        ({"type": "Feature", "properties": {"store_id": "A", "promise_min": 45}, "geometry": sq}, "promise_min"),
        ({"type": "Feature", "properties": {"store_id": "A", "promise_min": 30},
          "geometry": {"type": "Point", "coordinates": [0, 0]}}, "geometry"),
        ({"type": "Feature", "properties": {"store_id": "A", "promise_min": 30}, "geometry": bow}, "geometry"),
    ]
    for feat, col in cases:
        with pytest.raises(InputError) as e:
            load_zones(write(tmp_path, "z.geojson", fc(feat)), {"A": 0})
        assert one(e).column == col and one(e).row == 1
    ok = {"type": "Feature", "properties": {"store_id": "A", "promise_min": 30}, "geometry": sq}
    with pytest.raises(InputError, match="second 30-minute zone"):
        load_zones(write(tmp_path, "z.geojson", fc(ok, ok)), {"A": 0})
    assert len(load_zones(write(tmp_path, "z.geojson", fc(ok)), {"A": 0})) == 1
    with pytest.raises(InputError, match="FeatureCollection"):
        load_zones(write(tmp_path, "z.geojson", "[]"), {"A": 0})


def test_network_from_files_and_inventory_csr(tmp_path):
    s = write(tmp_path, "stores.csv", STORES)
    i = write(tmp_path, "inv.csv", "store_id,sku,on_hand,safety_stock\nB,y,5,1\nA,y,2,0\nA,x,3,5\n")
    net = omnifill.Network.from_files(s, i)
    assert net.store_ids.tolist() == ["A", "B"]
    inv = net.inventory
    assert inv.skus.tolist() == ["x", "y"]
    assert inv.indptr.tolist() == [0, 2, 3]
    assert inv.available.tolist() == [0, 2, 4]  # safety stock above on-hand leaves nothing, not a negative
    assert inv.available_of(1, 1) == 4 and inv.available_of(1, 0) == 0
    assert inv.codes(["y", "nope"]).tolist() == [1, -1]
    assert net.eligible.tolist() == [True, False]


def test_config_from_toml(tmp_path):
    p = write(tmp_path, "omnifill.toml", "[travel]\ncircuity = 1.4\n[limits]\nmax_packages = 2\n")
    cfg = omnifill.Config.from_toml(p)
    assert cfg.travel.circuity == 1.4 and cfg.limits.max_packages == 2 and cfg.cost.per_package == 20.0
    for text, key in [("[travel]\ncircuty = 1.4\n", "travel.circuty"), ("[travel]\ncircuity = -1\n", "travel.circuity"),
                      ("[limits]\nmax_packages = 1.5\n", "limits.max_packages"), ("[speed]\nx = 1\n", "speed"),
                      ("[cost]\nper_package = 'a'\n", "cost.per_package")]:
        with pytest.raises(InputError) as e:
            omnifill.Config.from_toml(write(tmp_path, "omnifill.toml", text))
        assert one(e).column == key
    with pytest.raises(InputError, match="not valid TOML"):
        omnifill.Config.from_toml(write(tmp_path, "omnifill.toml", "[travel\n"))


def test_config_keys_are_exactly_the_design_names():
    d = omnifill.Config().to_dict()
    assert set(d) == {"travel", "cost", "limits", "rejections"}
    assert set(d["travel"]) == {"circuity", "courier_m_per_min", "handling_min", "transfer_m_per_min",
                                "transfer_handling_min", "parcel_lead_min", "provider", "road_nodes", "road_edges",
                                "roads", "hour"}
    assert set(d["cost"]) == {"per_minute", "per_package", "per_parcel", "per_transfer", "late_per_minute",
                              "unfilled_per_line", "move_penalty"}
    assert set(d["limits"]) == {"max_packages", "max_transfers", "max_courier_min"}
    assert set(d["rejections"]) == {"exclude_min"}


def test_config_handling_default_reaches_the_network(tmp_path):
    s = write(tmp_path, "stores.csv", "store_id,lat,lon,handling_min\nA,31.2,121.4,\nB,31.2,121.4,4\n")
    cfg = omnifill.Config().with_(travel={"handling_min": 7.0})
    net = omnifill.Network.from_files(s, None, config=cfg)
    assert net.handling_min.tolist() == [7.0, 4.0]


def test_network_and_orders_from_in_memory_tables():
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    import shapely

    stores = pd.DataFrame({"store_id": ["A", "B"], "lat": [31.20, 31.21], "lon": [121.40, 121.40]})
    inv = pa.table({"store_id": ["A", "B"], "sku": ["x", "x"], "on_hand": [3, 0]})
    net = omnifill.Network.from_tables(stores, inv, zones=[("B", 60, shapely.box(121.3, 31.1, 121.5, 31.3))])
    orders = omnifill.OrderBatch.from_tables({"order_id": ["o"], "lat": [31.2], "lon": [121.4], "sku": ["x"],
                                              "qty": [2]}, net)
    cov = net.coverage(net.candidates(orders.lat, orders.lon, orders.promise_min), orders)
    assert cov.full.tolist() == [True]
    with pytest.raises(InputError) as e:
        omnifill.Network.from_tables({"store_id": ["A"], "lat": [95.0], "lon": [121.4]})
    assert (one(e).file, one(e).row, one(e).column) == ("<stores>", 1, "lat")
    with pytest.raises(InputError, match="not in the stores file"):
        omnifill.Network.from_tables(stores, zones=[("Z", 30, shapely.box(0, 0, 1, 1))])
    box = shapely.box(121, 31, 122, 32)
    for zones, col in [([("A", 45, box)], "promise_min"), ([("A", 30, shapely.Point(121, 31))], "geometry"),
                       ([("A", 30, box), ("A", 30, box)], "store_id")]:  # the file's checks, duplicates too
        with pytest.raises(InputError) as e:
            omnifill.Network.from_tables(stores, zones=zones)
        assert (one(e).file, one(e).column) == ("<zones>", col)
    with pytest.raises(TypeError, match="mapping of columns"):
        omnifill.Network.from_tables([1, 2, 3])


def test_booleans_are_not_numbers(tmp_path):
    p = write(tmp_path, "orders.jsonl",
              json.dumps({"order_id": "o", "lat": True, "lon": 121.4, "sku": "x", "qty": 1}) + "\n")
    with pytest.raises(InputError) as e:
        load_orders(p, None)
    assert (one(e).row, one(e).column, one(e).value) == (1, "lat", True)


def test_empty_json_lines_file(tmp_path):
    with pytest.raises(InputError) as e:
        load_orders(write(tmp_path, "orders.jsonl", "\n"), None)
    assert one(e).message == "file has no data rows"
