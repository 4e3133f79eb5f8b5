#!/usr/bin/python3
"""A small generator of app activity for the mongo demos.

    scripts/demo-activity.py [--uri URI] [--database shop] [--rate 4]

Writes to users, businesses, inventory_items and orders (pymongo) at about
`rate` operations per second: new users, profile updates, businesses owned
by a user (owner as a DBRef, as in the write-up), stock going down and being
restocked, orders placed, paid and deleted. Ctrl-C (or SIGTERM) stops it.
"""
import argparse
import random
import signal
import sys
import time

import pymongo
from bson import DBRef, ObjectId

ap = argparse.ArgumentParser()
ap.add_argument("--uri", default="mongodb://127.0.0.1:27017/?replicaSet=rs0")
ap.add_argument("--database", default="shop")
ap.add_argument("--rate", type=float, default=4.0, help="operations per second")
a = ap.parse_args()



def _stop(*_):
    raise KeyboardInterrupt   # SIGTERM stops as quietly as Ctrl-C


signal.signal(signal.SIGTERM, _stop)
db = pymongo.MongoClient(a.uri)[a.database]
rng = random.Random(42)
NAMES = ["ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances"]
ITEMS = ["bolts", "nuts", "washers", "hinges", "screws", "brackets"]


def setup():
    """A few users and businesses so every operation has something to act on."""
    users, businesses, items = [], [], []
    for n in NAMES[:4]:
        uid = "user_" + n
        db.users.replace_one({"_id": uid}, {"_id": uid, "name": n.title(), "visits": 0},
                             upsert=True)
        users.append(uid)
    for k in range(2):
        bid = ObjectId()
        db.businesses.insert_one({"_id": bid, "name": "shop %d" % k,
                                  "owner": DBRef("users", users[k])})
        businesses.append(bid)
    for name in ITEMS:
        r = db.inventory_items.insert_one({"name": name, "quantity_in_stock": 20,
                                           "reorder_point": 5,
                                           "owned_by": rng.choice(businesses)})
        items.append(r.inserted_id)
    return users, businesses, items


def step(users, businesses, items, orders):
    r = rng.random()
    if r < 0.15:
        uid = "user_%s_%d" % (rng.choice(NAMES), rng.randrange(1000))
        db.users.replace_one({"_id": uid}, {"_id": uid, "name": uid, "visits": 0}, upsert=True)
        users.append(uid)
    elif r < 0.35:
        db.users.update_one({"_id": rng.choice(users)},
                            {"$inc": {"visits": 1}, "$set": {"last_seen": time.time()}})
    elif r < 0.6:
        item = rng.choice(items)
        doc = db.inventory_items.find_one({"_id": item})
        q = doc["quantity_in_stock"] - rng.randrange(1, 6) if doc else 20
        db.inventory_items.update_one({"_id": item},
                                      {"$set": {"quantity_in_stock": q if q > 0 else 20}})
    elif r < 0.8:
        res = db.orders.insert_one({"user_id": rng.choice(users), "status": "placed",
                                    "total": round(rng.uniform(5, 200), 2),
                                    "owned_by": rng.choice(businesses)})
        orders.append(res.inserted_id)
    elif r < 0.93 and orders:
        db.orders.update_one({"_id": rng.choice(orders)}, {"$set": {"status": "paid"}})
    elif orders:
        db.orders.delete_one({"_id": orders.pop(rng.randrange(len(orders)))})


def main():
    users, businesses, items = setup()
    orders = []
    period = 1.0 / a.rate if a.rate > 0 else 0
    print("demo-activity: writing to %s at %.1f ops/s; Ctrl-C stops" % (a.database, a.rate),
          file=sys.stderr)
    while True:
        step(users, businesses, items, orders)
        if period:
            time.sleep(period)


try:
    main()
except KeyboardInterrupt:
    pass
