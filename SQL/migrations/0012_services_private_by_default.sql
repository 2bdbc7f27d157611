-- A service type was public unless it said otherwise: one added without is_public published its
-- requests' descriptions, addresses, coordinates and closing messages in the Open311 listings,
-- although the rule for those listings is to show only what a service marks as public. A service
-- is now private unless it says it is public. Existing rows keep the setting they have.
ALTER TABLE service_types ALTER COLUMN is_public SET DEFAULT false;

COMMENT ON COLUMN service_types.is_public IS 'Whether public listings (Open311 GET requests) may show its requests'' descriptions, addresses, coordinates and closing messages; false (the default) shows status, unit and kecamatan only. Personal data is never public.';
