-- 0062: supervision orders (督办), enforcement referrals (执法移交) and public notices
-- (警示通报) people can work.
--
-- Escalation (job_risk.c) creates supervisions and enforcement_referrals; nothing moved
-- them but an approved warning.  Now a supervision is assigned to a person, answered (by
-- the enterprise or the assignee) and closed with a result; a referral is accepted or
-- rejected by the enforcement side and closed with its outcome (decision number, penalty,
-- date).  public_notices get a draft → approved → published life, a hazard they may
-- concern, and published notices are readable by every enterprise of the issuing region.

ALTER TABLE supervisions DROP CONSTRAINT supervisions_status_check;
ALTER TABLE supervisions ADD CONSTRAINT supervisions_status_check
    CHECK (status IN ('open', 'assigned', 'responded', 'closed'));
ALTER TABLE supervisions
    ADD COLUMN assigned_to  bigint REFERENCES accounts (id),
    ADD COLUMN assigned_by  bigint REFERENCES accounts (id),
    ADD COLUMN assigned_at  timestamptz,
    ADD COLUMN response     text NOT NULL DEFAULT '' CHECK (length(response) <= 4000),
    ADD COLUMN responded_by bigint REFERENCES accounts (id),
    ADD COLUMN responded_at timestamptz,
    ADD COLUMN result       text NOT NULL DEFAULT '' CHECK (length(result) <= 4000),
    ADD COLUMN closed_by    bigint REFERENCES accounts (id),
    ADD CONSTRAINT supervisions_assigned_check CHECK ((assigned_to IS NULL) = (assigned_at IS NULL)),
    ADD CONSTRAINT supervisions_flow_check CHECK (status <> 'assigned' OR assigned_to IS NOT NULL);
COMMENT ON COLUMN supervisions.status IS 'open, assigned (to a person), responded (answered), closed (with a result; also when the warning is cleared)';
COMMENT ON COLUMN supervisions.assigned_to IS 'the person who follows it up';
COMMENT ON COLUMN supervisions.assigned_by IS 'who assigned it';
COMMENT ON COLUMN supervisions.assigned_at IS 'when';
COMMENT ON COLUMN supervisions.response IS 'the answer (督办回复) of the enterprise or the assignee';
COMMENT ON COLUMN supervisions.responded_by IS 'who answered';
COMMENT ON COLUMN supervisions.responded_at IS 'when';
COMMENT ON COLUMN supervisions.result IS 'the result it was closed with';
COMMENT ON COLUMN supervisions.closed_by IS 'who closed it (NULL: closed with its warning)';
CREATE INDEX supervisions_open_idx ON supervisions (created_at) WHERE status <> 'closed';

ALTER TABLE enforcement_referrals DROP CONSTRAINT enforcement_referrals_status_check;
ALTER TABLE enforcement_referrals ADD CONSTRAINT enforcement_referrals_status_check
    CHECK (status IN ('open', 'accepted', 'rejected', 'closed'));
ALTER TABLE enforcement_referrals
    ADD COLUMN reviewed_by     bigint REFERENCES accounts (id),
    ADD COLUMN reviewed_at     timestamptz,
    ADD COLUMN review_note     text NOT NULL DEFAULT '' CHECK (length(review_note) <= 4000),
    ADD COLUMN decision_no     text CHECK (length(decision_no) BETWEEN 1 AND 100),
    ADD COLUMN penalty_amount  numeric(14, 2) CHECK (penalty_amount >= 0),
    ADD COLUMN decided_on      date,
    ADD COLUMN outcome         text NOT NULL DEFAULT '' CHECK (length(outcome) <= 4000),
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN closed_by       bigint REFERENCES accounts (id),
    ADD CONSTRAINT enforcement_referrals_reviewed_check CHECK (status = 'open' OR reviewed_at IS NOT NULL),
    ADD CONSTRAINT enforcement_referrals_closed_check CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    ADD CONSTRAINT enforcement_referrals_decided_check CHECK (status <> 'closed' OR decided_on IS NOT NULL);
COMMENT ON COLUMN enforcement_referrals.status IS 'open, accepted or rejected by the enforcement side, closed with its outcome';
COMMENT ON COLUMN enforcement_referrals.reviewed_by IS 'who accepted or rejected it';
COMMENT ON COLUMN enforcement_referrals.reviewed_at IS 'when';
COMMENT ON COLUMN enforcement_referrals.review_note IS 'the note, or why it was rejected';
COMMENT ON COLUMN enforcement_referrals.decision_no IS 'penalty decision number (行政处罚决定书文号); NULL when no penalty';
COMMENT ON COLUMN enforcement_referrals.penalty_amount IS 'fine in yuan (NULL: none)';
COMMENT ON COLUMN enforcement_referrals.decided_on IS 'date of the decision';
COMMENT ON COLUMN enforcement_referrals.outcome IS 'what was decided, in words';
COMMENT ON COLUMN enforcement_referrals.closed_at IS 'when closed';
COMMENT ON COLUMN enforcement_referrals.closed_by IS 'who closed it';

ALTER TABLE public_notices
    ADD COLUMN hazard_id    bigint REFERENCES hazards (id),
    ADD COLUMN status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'approved', 'published')),
    ADD COLUMN approved_by  bigint REFERENCES accounts (id),
    ADD COLUMN approved_at  timestamptz,
    ADD COLUMN published_by bigint REFERENCES accounts (id),
    ADD CONSTRAINT public_notices_published_check CHECK ((status = 'published') = (published_at IS NOT NULL)),
    ADD CONSTRAINT public_notices_approved_check CHECK (status = 'draft' OR approved_at IS NOT NULL);
COMMENT ON COLUMN public_notices.hazard_id IS 'the hazard it concerns, if any';
COMMENT ON COLUMN public_notices.status IS 'draft, approved, published (then visible to every enterprise of the issuing region)';
COMMENT ON COLUMN public_notices.approved_by IS 'who approved it';
COMMENT ON COLUMN public_notices.approved_at IS 'when';
COMMENT ON COLUMN public_notices.published_by IS 'who published it';
-- published notices warn every enterprise of the issuing region (its own district and
-- street, and the city above), not only the one they name; drafts stay with the scope
CREATE POLICY published_read ON public_notices FOR SELECT
    USING (published_at IS NOT NULL AND region_id IN (
        SELECT e.district_id FROM enterprises e UNION SELECT e.street_id FROM enterprises e
        UNION SELECT r.parent_id FROM regions r WHERE r.id IN (SELECT e.district_id FROM enterprises e)));

INSERT INTO labels (domain, code, zh, en) VALUES
    ('supervision_status', 'open', '待交办', 'open'),
    ('supervision_status', 'assigned', '已交办', 'assigned'),
    ('supervision_status', 'responded', '已回复', 'answered'),
    ('supervision_status', 'closed', '已办结', 'closed'),
    ('referral_status', 'open', '待受理', 'open'),
    ('referral_status', 'accepted', '已受理', 'accepted'),
    ('referral_status', 'rejected', '不予受理', 'rejected'),
    ('referral_status', 'closed', '已结案', 'closed'),
    ('notice_status', 'draft', '草稿', 'draft'),
    ('notice_status', 'approved', '已审核', 'approved'),
    ('notice_status', 'published', '已发布', 'published')
ON CONFLICT (domain, code) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en;
