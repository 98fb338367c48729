"""Video alarms (issue 11 item 3).

* The catalogue of video alarm types (video_alarm_types, migration 0021) gives
  a type its level and label: SJ02001 烟火识别 (smoke/fire) is the most severe
  video alarm, level 2, labelled 烟火识别 in the alarm API; a type the
  catalogue does not list is level 1 (level 2 if its code names smoke or fire)
  and labelled by its code.
* A video alarm names a camera as a reading names a point: a camera not
  registered for the enterprise (also another enterprise's) is rejected per
  item, unknown_camera, a disabled one camera_disabled; neither is stored nor
  raises an alarm.  A video alarm without an image is a video alarm: stored
  (image NULL) and raised, the snapshot is evidence, not the alarm."""
import base64
import os
from datetime import datetime, timedelta, timezone

import dialects
import fixtures
from test_api import City

BJ = timezone(timedelta(hours=8))
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(300) + b"\xff\xd9"


def iso(d):
    return d.replace(microsecond=0).isoformat()


def video_alarms(c):
    st, _, b = c.call("city.admin", "GET", "/api/v1/alarms?source=video&limit=100")
    assert st == 200, b
    return {(a["camera_code"], a["reason"]): a for a in b["items"]}


def test_catalogue_levels_labels_and_unknown_cameras():
    c = City()
    try:
        db, a1, a2 = c.db, c.a1, c.a2
        fixtures.add_camera(db, a1, "CAM01")
        fixtures.add_camera(db, a1, "CAM02", enabled=False)
        fixtures.add_camera(db, a2, "CAM-A2")
        ts = datetime.now(timezone.utc) - timedelta(minutes=3)
        vids = [
            {"camera": "CAM01", "ts": iso(ts), "alarm_type": "SJ02001", "content": "烟火识别",
             "image_base64": base64.b64encode(JPEG).decode()},
            {"camera": "CAM01", "ts": iso(ts), "alarm_type": "HELMET01", "content": "未戴安全帽"},  # no image
            {"camera": "CAM99", "ts": iso(ts), "alarm_type": "SJ02001"},   # not registered
            {"camera": "CAM02", "ts": iso(ts), "alarm_type": "SJ02001"},   # disabled
            {"camera": "CAM-A2", "ts": iso(ts), "alarm_type": "SJ02001"},  # another enterprise's
        ]
        st, _, r = c.srv.ingest("POST", "/ingest/v1/videos", {"videos": vids}, {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 2 and r["rejected"] == 3, r
        assert {x["index"]: (x["code"], x["ref"]) for x in r["errors"]} == {
            2: ("unknown_camera", "CAM99"), 3: ("camera_disabled", "CAM02"), 4: ("unknown_camera", "CAM-A2")}, r
        rows = db.sql("SELECT camera_code, alarm_type, image IS NULL FROM video_alarms ORDER BY alarm_type")
        assert rows == [["CAM01", "HELMET01", "t"], ["CAM01", "SJ02001", "f"]], rows

        alarms = video_alarms(c)
        assert set(alarms) == {("CAM01", "SJ02001"), ("CAM01", "HELMET01")}, alarms
        fire = alarms[("CAM01", "SJ02001")]
        assert fire["level"] == 2 and fire["max_level"] == 2 and fire["label"] == "烟火识别", fire
        helmet = alarms[("CAM01", "HELMET01")]
        assert helmet["level"] == 1 and helmet["label"] == "HELMET01", helmet
        assert db.scalar("SELECT e.level FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id "
                         "WHERE a.reason = 'SJ02001'") == "2"

        # Hebei: the same rules; the answer names the rejected camera
        bj = (ts + timedelta(seconds=1)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
        vid = {"ts": bj, "videoCode": "31011300000000000099", "alarmType": "SJ02001", "content": "烟火识别"}
        st, _, raw = c.srv.ingest("POST", "/rabbitmqfcsb/api/videosData",
                                  dialects.hebei_body(a1["code"], vid, a1["des_key"]))
        assert raw["code"] == 422 and "unknown_camera" in raw["msg"], raw
        vid["videoCode"] = "CAM01"
        st, _, raw = c.srv.ingest("POST", "/rabbitmqfcsb/api/videosData",
                                  dialects.hebei_body(a1["code"], vid, a1["des_key"],
                                                      img=base64.b64encode(JPEG).decode()))
        assert raw["code"] == 200, raw
        assert db.scalar("SELECT count(*) FROM video_alarms WHERE source = 'hebei'") == "1"
        assert db.scalar("SELECT count(*) FROM alarms WHERE source = 'video' AND level = 2") == "2"
    finally:
        c.close()


if __name__ == "__main__":
    import dwtest as t
    t.run([test_catalogue_levels_labels_and_unknown_cameras])
