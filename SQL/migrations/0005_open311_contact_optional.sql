-- Open311 GeoReport v2 makes a filer's e-mail and phone optional: a partner's app keeps in touch
-- with its own user, who follows the request by its id or token. Requests filed through Open311
-- may therefore have neither; the citizen API still requires one (its answer promises that
-- officers can reach the citizen), and so does this check for every other source.
ALTER TABLE service_requests DROP CONSTRAINT service_requests_citizen_contact_required;
ALTER TABLE service_requests ADD CONSTRAINT service_requests_citizen_contact_required
    CHECK (source = 'open311' OR citizen_phone IS NOT NULL OR citizen_email IS NOT NULL);
