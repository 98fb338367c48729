-- 0021: the catalogue of video alarm types.  A gateway names the analytics
-- event by a type code (Hebei alarmType, our alarm_type); the catalogue gives
-- it a level and a label.  Smoke and fire (烟火识别, Hebei SJ02001) are
-- explosion precursors and the most severe video alarm (level 2).  A type not
-- in the catalogue keeps the ingest writer's fallback: level 2 when its code
-- names smoke or fire (fire, smoke, spark, 火, 烟), else level 1, labelled by
-- its code.  Operators add types with INSERT (the owner role).

CREATE TABLE video_alarm_types (
    code        text PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 64),
    level       smallint NOT NULL CHECK (level BETWEEN 1 AND 2),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT ''
);
COMMENT ON TABLE video_alarm_types IS 'catalogue of video analytics alarm types: the level and label of an alarm_type code';
COMMENT ON COLUMN video_alarm_types.code IS 'the type code gateways send (Hebei alarmType, native alarm_type), compared exactly';
COMMENT ON COLUMN video_alarm_types.level IS 'alarm level of a video alarm of this type: 2 the most severe (smoke/fire), 1 other analytics';
COMMENT ON COLUMN video_alarm_types.label IS 'what the dashboard shows, e.g. 烟火识别';
COMMENT ON COLUMN video_alarm_types.description IS 'where the code comes from, what it detects';

INSERT INTO video_alarm_types (code, level, label, description) VALUES
    ('SJ02001', 2, '烟火识别', 'smoke and fire recognition (Hebei V1.1 simulation, domain.md 2.3): an explosion precursor'),
    ('smoke', 2, '烟雾识别', 'smoke recognition (native format)'),
    ('fire', 2, '明火识别', 'open fire recognition (native format)'),
    ('spark', 2, '火花识别', 'spark recognition (native format)');

GRANT SELECT ON video_alarm_types TO dustwatch_app;
