-- =============================================================================================
-- SAMPLE CONFIGURATION for Kota Serang: NOT an official catalogue.
--
-- Units, officers, service types, requirements, targets and routing below are illustrative data
-- for development, demos and tests. The officers are fictional (their NIPs only have the right
-- shape, their e-mail addresses use the reserved .example domain). Before production use, the
-- city's own service standards (standar pelayanan), organisation chart and staff list replace it.
--
-- Needs migration 0001. Idempotent: every row is keyed by a natural key (code, nip, day, ...)
-- and inserted only when missing, so a second run changes nothing, not even identity sequences.
-- Rows an admin has changed since are left alone. Run it in one transaction:
--   psql -v ON_ERROR_STOP=1 -1 -f SQL/seed/0001_kota_serang_sample.sql
-- =============================================================================================

-- ---------------------------------------------------------------------------------------------
-- Areas (Kemendagri codes).
-- Source: the national region-code list of Kepmendagri 300.2.2-2138/2025 as published in the
-- cahyadsn/wilayah data set (db/wilayah.sql). Kecamatan order there: 01 Serang, 02 Kasemen,
-- 03 Walantaka, 04 Curug, 05 Cipocok Jaya, 06 Taktakan. Kota Serang has 67 kelurahan, all listed;
-- gaps in the numbering (e.g. 36.73.02.1005) are in the source. Re-check against the current
-- Kepmendagri before production.
-- ---------------------------------------------------------------------------------------------
INSERT INTO areas (code, name, level, parent_code) VALUES
    ('36',    'Banten',      'province', NULL),
    ('36.73', 'Kota Serang', 'regency',  '36')
ON CONFLICT (code) DO NOTHING;

INSERT INTO areas (code, name, level, parent_code) VALUES
    ('36.73.01', 'Serang',       'district', '36.73'),
    ('36.73.02', 'Kasemen',      'district', '36.73'),
    ('36.73.03', 'Walantaka',    'district', '36.73'),
    ('36.73.04', 'Curug',        'district', '36.73'),
    ('36.73.05', 'Cipocok Jaya', 'district', '36.73'),
    ('36.73.06', 'Taktakan',     'district', '36.73')
ON CONFLICT (code) DO NOTHING;

INSERT INTO areas (code, name, level, parent_code)
SELECT v.code, v.name, 'village', left(v.code, 8)
FROM (VALUES
    -- Kecamatan Serang
    ('36.73.01.1001', 'Serang'),
    ('36.73.01.1002', 'Cipare'),
    ('36.73.01.1003', 'Sumur Pecung'),
    ('36.73.01.1004', 'Kota Baru'),
    ('36.73.01.1005', 'Lopang'),
    ('36.73.01.1006', 'Cimuncang'),
    ('36.73.01.1007', 'Unyur'),
    ('36.73.01.1008', 'Sukawana'),
    ('36.73.01.1009', 'Lontarbaru'),
    ('36.73.01.1010', 'Kaligandu'),
    ('36.73.01.1011', 'Terondol'),
    ('36.73.01.1012', 'Kagungan'),
    -- Kecamatan Kasemen
    ('36.73.02.1001', 'Kasemen'),
    ('36.73.02.1002', 'Mesjid Priyayi'),
    ('36.73.02.1003', 'Terumbu'),
    ('36.73.02.1004', 'Warung Jaud'),
    ('36.73.02.1006', 'Bendung'),
    ('36.73.02.1007', 'Banten'),
    ('36.73.02.1008', 'Sawah Luhur'),
    ('36.73.02.1009', 'Kilasah'),
    ('36.73.02.1010', 'Kasunyatan'),
    ('36.73.02.1011', 'Margaluyu'),
    -- Kecamatan Walantaka
    ('36.73.03.1001', 'Walantaka'),
    ('36.73.03.1002', 'Cigoong'),
    ('36.73.03.1003', 'Nyapah'),
    ('36.73.03.1004', 'Pangampelan'),
    ('36.73.03.1006', 'Kiara'),
    ('36.73.03.1007', 'Pager Agung'),
    ('36.73.03.1008', 'Kalodran'),
    ('36.73.03.1009', 'Kapuren'),
    ('36.73.03.1010', 'Teritih'),
    ('36.73.03.1011', 'Pabuaran'),
    ('36.73.03.1012', 'Pasuluhan'),
    ('36.73.03.1013', 'Tegalsari'),
    ('36.73.03.1014', 'Pipitan'),
    ('36.73.03.1016', 'Lebakwangi'),
    -- Kecamatan Curug
    ('36.73.04.1001', 'Curug'),
    ('36.73.04.1002', 'Tinggar'),
    ('36.73.04.1003', 'Kemanisan'),
    ('36.73.04.1004', 'Cipete'),
    ('36.73.04.1005', 'Cilaku'),
    ('36.73.04.1006', 'Pancalaksana'),
    ('36.73.04.1007', 'Sukawana'),
    ('36.73.04.1008', 'Sukalaksana'),
    ('36.73.04.1009', 'Curug Manis'),
    ('36.73.04.1010', 'Sukajaya'),
    -- Kecamatan Cipocok Jaya
    ('36.73.05.1001', 'Cipocok Jaya'),
    ('36.73.05.1002', 'Karundang'),
    ('36.73.05.1003', 'Panancangan'),
    ('36.73.05.1004', 'Banjar Agung'),
    ('36.73.05.1005', 'Banjarsari'),
    ('36.73.05.1006', 'Tembong'),
    ('36.73.05.1007', 'Dalung'),
    ('36.73.05.1008', 'Gelam'),
    -- Kecamatan Taktakan
    ('36.73.06.1001', 'Taktakan'),
    ('36.73.06.1002', 'Sayar'),
    ('36.73.06.1003', 'Pancur'),
    ('36.73.06.1004', 'Kuranji'),
    ('36.73.06.1005', 'Kalanganyar'),
    ('36.73.06.1006', 'Cilowong'),
    ('36.73.06.1007', 'Panggungjati'),
    ('36.73.06.1008', 'Drangong'),
    ('36.73.06.1009', 'Umbul Tengah'),
    ('36.73.06.1010', 'Sepang'),
    ('36.73.06.1011', 'Lialang'),
    ('36.73.06.1012', 'Taman Baru'),
    ('36.73.06.1013', 'Cibendung')
) AS v (code, name)
ON CONFLICT (code) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Units. One statement per tree level: a statement cannot see the parents it inserts itself.
-- The Sekretariat Daerah sits at the top: its managers see every agency. Escalations move a request
-- up to its agency, not above it (docs/sla.md).
-- ---------------------------------------------------------------------------------------------
INSERT INTO units (code, name, parent_id, kind)
SELECT 'SETDA', 'Sekretariat Daerah Kota Serang', NULL, 'agency'
WHERE NOT EXISTS (SELECT 1 FROM units WHERE code = 'SETDA')
ON CONFLICT (code) DO NOTHING;

INSERT INTO units (code, name, parent_id, kind)
SELECT v.code, v.name, (SELECT id FROM units WHERE code = v.parent_code), 'agency'
FROM (VALUES
    ('DISDUKCAPIL', 'Dinas Kependudukan dan Pencatatan Sipil',                           'SETDA'),
    ('DPMPTSP',     'Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu',             'SETDA'),
    ('BKPSDM',      'Badan Kepegawaian dan Pengembangan Sumber Daya Manusia',             'SETDA'),
    ('DINSOS',      'Dinas Sosial',                                                       'SETDA'),
    ('INSPEKTORAT', 'Inspektorat Daerah',                                                 'SETDA')
) AS v (code, name, parent_code)
WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.code = v.code)
ON CONFLICT (code) DO NOTHING;

INSERT INTO units (code, name, parent_id, kind, is_triage)
SELECT v.code, v.name, (SELECT id FROM units WHERE code = v.parent_code), v.kind, v.is_triage
FROM (VALUES
    ('DISDUKCAPIL-DAFDUK',    'Bidang Pelayanan Pendaftaran Penduduk',                 'DISDUKCAPIL', 'division',     false),
    ('DISDUKCAPIL-CAPIL',     'Bidang Pelayanan Pencatatan Sipil',                     'DISDUKCAPIL', 'division',     false),
    ('DPMPTSP-YANZIN',        'Bidang Pelayanan Perizinan dan Nonperizinan',           'DPMPTSP',     'division',     false),
    -- The Mal Pelayanan Publik is run by DPMPTSP; its front office triages what routing cannot place.
    ('MPP-FO',                'Front Office Mal Pelayanan Publik Kota Serang',         'DPMPTSP',     'front_office', true),
    ('BKPSDM-MUTASI',         'Bidang Mutasi dan Promosi',                             'BKPSDM',      'division',     false),
    ('BKPSDM-BINKES',         'Bidang Pembinaan, Disiplin dan Kesejahteraan Pegawai',  'BKPSDM',      'division',     false),
    ('DINSOS-LINJAMSOS',      'Bidang Perlindungan dan Jaminan Sosial',                'DINSOS',      'division',     false),
    ('INSPEKTORAT-IRBANSUS',  'Inspektur Pembantu Khusus (Pengaduan dan Investigasi)', 'INSPEKTORAT', 'division',     false)
) AS v (code, name, parent_code, kind, is_triage)
WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.code = v.code)
ON CONFLICT (code) DO NOTHING;

INSERT INTO units (code, name, parent_id, kind)
SELECT v.code, v.name, (SELECT id FROM units WHERE code = v.parent_code), 'section'
FROM (VALUES
    ('DISDUKCAPIL-IDP',          'Seksi Identitas Penduduk',                         'DISDUKCAPIL-DAFDUK'),
    ('DISDUKCAPIL-PDP',          'Seksi Pindah Datang Penduduk',                     'DISDUKCAPIL-DAFDUK'),
    ('DISDUKCAPIL-POS-KASEMEN',  'Pos Pelayanan Adminduk Kasemen',                   'DISDUKCAPIL-DAFDUK'),
    ('DISDUKCAPIL-KLM',          'Seksi Kelahiran dan Kematian',                     'DISDUKCAPIL-CAPIL'),
    ('DPMPTSP-USAHA',            'Seksi Perizinan Usaha',                            'DPMPTSP-YANZIN'),
    ('DPMPTSP-BANGUNAN',         'Seksi Perizinan Bangunan dan Lingkungan',          'DPMPTSP-YANZIN'),
    ('DPMPTSP-KESEHATAN',        'Seksi Perizinan Kesehatan dan Pendidikan',         'DPMPTSP-YANZIN'),
    ('DINSOS-DATA',              'Seksi Pengelolaan Data Kesejahteraan Sosial',      'DINSOS-LINJAMSOS')
) AS v (code, name, parent_code)
WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.code = v.code)
ON CONFLICT (code) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Calendar: working hours of the city's ASN (37.5 hours a week).
-- Mon-Thu 07:30-12:00 and 13:00-16:00; Fri 07:30-11:30 and 13:00-16:30 (longer break for Friday
-- prayer); Saturday and Sunday closed. Every working day has 450 minutes.
-- Hours and holidays are seeded only when the calendar has none yet, so that a later run does
-- not bring back what an admin removed.
-- ---------------------------------------------------------------------------------------------
INSERT INTO calendars (code, name, time_zone, day_minutes)
SELECT 'serang-asn', 'Jam kerja ASN Pemerintah Kota Serang', 'Asia/Jakarta', 450
WHERE NOT EXISTS (SELECT 1 FROM calendars WHERE code = 'serang-asn')
ON CONFLICT (code) DO NOTHING;

INSERT INTO calendar_intervals (calendar_id, weekday, start_minute, end_minute)
SELECT c.id, v.weekday, v.start_minute, v.end_minute
FROM calendars c
CROSS JOIN (VALUES
    (1, 450, 720), (1, 780, 960),   -- Monday    07:30-12:00, 13:00-16:00
    (2, 450, 720), (2, 780, 960),   -- Tuesday
    (3, 450, 720), (3, 780, 960),   -- Wednesday
    (4, 450, 720), (4, 780, 960),   -- Thursday
    (5, 450, 690), (5, 780, 990)    -- Friday    07:30-11:30, 13:00-16:30
) AS v (weekday, start_minute, end_minute)
WHERE c.code = 'serang-asn'
  AND NOT EXISTS (SELECT 1 FROM calendar_intervals i WHERE i.calendar_id = c.id)
ON CONFLICT DO NOTHING;

-- 2026: national holidays and joint leave of SKB 3 Menteri 1497/2025, 2/2025, 5/2025
-- (shared/reference/holidays-2026.md). Weekend holidays are kept so the list matches the decree.
INSERT INTO holidays (calendar_id, day, name, kind)
SELECT c.id, v.day::date, v.name, v.kind
FROM calendars c
CROSS JOIN (VALUES
    ('2026-01-01', 'Tahun Baru 2026 Masehi',                  'national'),
    ('2026-01-16', 'Isra Mikraj Nabi Muhammad SAW',           'national'),
    ('2026-02-16', 'Cuti Bersama Tahun Baru Imlek',           'joint_leave'),
    ('2026-02-17', 'Tahun Baru Imlek 2577 Kongzili',          'national'),
    ('2026-03-18', 'Cuti Bersama Nyepi',                      'joint_leave'),
    ('2026-03-19', 'Hari Suci Nyepi (Tahun Baru Saka 1948)',  'national'),
    ('2026-03-20', 'Cuti Bersama Idul Fitri',                 'joint_leave'),
    ('2026-03-21', 'Idul Fitri 1447 H',                       'national'),
    ('2026-03-22', 'Idul Fitri 1447 H',                       'national'),
    ('2026-03-23', 'Cuti Bersama Idul Fitri',                 'joint_leave'),
    ('2026-03-24', 'Cuti Bersama Idul Fitri',                 'joint_leave'),
    ('2026-04-03', 'Wafat Yesus Kristus',                     'national'),
    ('2026-04-05', 'Kebangkitan Yesus Kristus (Paskah)',      'national'),
    ('2026-05-01', 'Hari Buruh Internasional',                'national'),
    ('2026-05-14', 'Kenaikan Yesus Kristus',                  'national'),
    ('2026-05-15', 'Cuti Bersama Kenaikan Yesus Kristus',     'joint_leave'),
    ('2026-05-27', 'Idul Adha 1447 H',                        'national'),
    ('2026-05-28', 'Cuti Bersama Idul Adha',                  'joint_leave'),
    ('2026-05-31', 'Hari Raya Waisak 2570 BE',                'national'),
    ('2026-06-01', 'Hari Lahir Pancasila',                    'national'),
    ('2026-06-16', '1 Muharam, Tahun Baru Islam 1448 H',      'national'),
    ('2026-08-17', 'Proklamasi Kemerdekaan',                  'national'),
    ('2026-08-25', 'Maulid Nabi Muhammad SAW',                'national'),
    ('2026-12-24', 'Cuti Bersama Natal',                      'joint_leave'),
    ('2026-12-25', 'Kelahiran Yesus Kristus',                 'national')
) AS v (day, name, kind)
WHERE c.code = 'serang-asn'
  AND NOT EXISTS (SELECT 1 FROM holidays h
                  WHERE h.calendar_id = c.id AND h.day BETWEEN '2026-01-01' AND '2026-12-31')
ON CONFLICT (calendar_id, day) DO NOTHING;

-- 2027: only the holidays fixed by date. Holidays that move with the Islamic, Chinese, Saka or
-- Easter calendars, and the joint leave days, must be added by an admin once the 2027 SKB is
-- decreed; until then SLA deadlines in 2027 may fall on those days.
INSERT INTO holidays (calendar_id, day, name, kind)
SELECT c.id, v.day::date, v.name, 'national'
FROM calendars c
CROSS JOIN (VALUES
    ('2027-01-01', 'Tahun Baru 2027 Masehi'),
    ('2027-05-01', 'Hari Buruh Internasional'),
    ('2027-06-01', 'Hari Lahir Pancasila'),
    ('2027-08-17', 'Proklamasi Kemerdekaan'),
    ('2027-12-25', 'Kelahiran Yesus Kristus')
) AS v (day, name)
WHERE c.code = 'serang-asn'
  AND NOT EXISTS (SELECT 1 FROM holidays h
                  WHERE h.calendar_id = c.id AND h.day BETWEEN '2027-01-01' AND '2027-12-31')
ON CONFLICT (calendar_id, day) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Service types. Targets are working minutes of serang-asn (450 = 1 day, 1350 = 3 days,
-- 2250 = 5 days, 6300 = 14 days, 9000 = 20 days, 12600 = 28 days).
-- Civil registration (adminduk) is free by law (UU 24/2013 as amended by UU 24/2019, art. 79A).
-- ---------------------------------------------------------------------------------------------
INSERT INTO service_types (
    code, group_code, name_id, name_en, description_id, description_en, requirements,
    fee_rupiah, fee_note_id, fee_note_en, response_target_minutes, resolution_target_minutes,
    calendar_id, default_unit_id, escalation_policy, is_public, allow_multiple_open, attributes, keywords)
SELECT v.code, v.group_code, v.name_id, v.name_en, v.description_id, v.description_en, v.requirements::jsonb,
       v.fee_rupiah, v.fee_note_id, v.fee_note_en, v.response_target_minutes, v.resolution_target_minutes,
       (SELECT id FROM calendars WHERE code = 'serang-asn'),
       (SELECT id FROM units WHERE code = v.unit_code),
       v.escalation_policy::jsonb, v.is_public, v.allow_multiple_open, v.attributes::jsonb, v.keywords
FROM (VALUES
    -- ---------------------------------------------------------------- civil registration
    ('kk-baru', 'adminduk',
     'Penerbitan Kartu Keluarga (KK)',
     'Family card (KK) issuance',
     'Penerbitan KK baru karena membentuk keluarga baru, pisah KK, perubahan data, atau KK hilang/rusak.',
     'Issuance of a family card for a new family, a split from an existing card, a change of data, or a lost or damaged card.',
     $j$[
       {"id": "Formulir Biodata Keluarga (F-1.01) yang telah diisi", "en": "Completed family biodata form (F-1.01)"},
       {"id": "Buku nikah/kutipan akta perkawinan atau akta perceraian", "en": "Marriage book or marriage certificate, or divorce certificate"},
       {"id": "Surat Keterangan Pindah bagi penduduk yang datang dari daerah lain", "en": "Moving certificate for residents arriving from another region"},
       {"id": "KK lama untuk pisah KK, perubahan data, atau KK rusak", "en": "The existing family card when splitting, changing data, or replacing a damaged card"}
     ]$j$,
     0, NULL, NULL, 240, 1350, 'DISDUKCAPIL-IDP', '{}', false, false,
     $j$[
       {"code": "alasan", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Alasan permohonan KK", "description_en": "Reason for the request",
        "values": [
          {"key": "keluarga_baru", "name": "Membentuk keluarga baru"},
          {"key": "pisah_kk", "name": "Pisah KK"},
          {"key": "perubahan_data", "name": "Perubahan data"},
          {"key": "hilang_rusak", "name": "KK hilang atau rusak"}]}
     ]$j$,
     ARRAY['kk', 'kartu keluarga', 'family card', 'adminduk']),

    ('ktp-el', 'adminduk',
     'Penerbitan KTP Elektronik (KTP-el)',
     'Electronic identity card (e-KTP) issuance',
     'Pencetakan KTP-el bagi penduduk yang sudah merekam data biometrik: pemula, hilang, rusak, atau perubahan data.',
     'Printing of the e-KTP for residents whose biometrics are recorded: first card, lost, damaged, or changed data.',
     $j$[
       {"id": "Kartu Keluarga", "en": "Family card (KK)"},
       {"id": "Sudah melakukan perekaman biometrik KTP-el", "en": "Biometric data already recorded for the e-KTP"},
       {"id": "Surat keterangan kehilangan dari kepolisian (jika hilang)", "en": "Police report of loss (if lost)"},
       {"id": "KTP-el yang rusak (jika rusak)", "en": "The damaged e-KTP (if damaged)"}
     ]$j$,
     0, NULL, NULL, 240, 450, 'DISDUKCAPIL-IDP', '{}', false, false,
     $j$[
       {"code": "jenis_permohonan", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Jenis permohonan KTP-el", "description_en": "Kind of e-KTP request",
        "values": [
          {"key": "pemula", "name": "Pemula (pertama kali)"},
          {"key": "hilang", "name": "Hilang"},
          {"key": "rusak", "name": "Rusak"},
          {"key": "perubahan_data", "name": "Perubahan data"}]},
       {"code": "nomor_kk", "datatype": "string", "required": false, "order": 2,
        "description_id": "Nomor Kartu Keluarga (16 digit)", "description_en": "Family card number (16 digits)"}
     ]$j$,
     ARRAY['ktp', 'ktp-el', 'e-ktp', 'identity card', 'adminduk']),

    ('akta-kelahiran', 'adminduk',
     'Penerbitan Akta Kelahiran',
     'Birth certificate issuance',
     'Pencatatan kelahiran dan penerbitan kutipan akta kelahiran.',
     'Registration of a birth and issuance of the birth certificate.',
     $j$[
       {"id": "Surat keterangan kelahiran dari rumah sakit, puskesmas, atau bidan", "en": "Birth statement from the hospital, health centre or midwife"},
       {"id": "Kartu Keluarga tempat anak didaftarkan", "en": "Family card in which the child will be registered"},
       {"id": "Buku nikah/akta perkawinan orang tua atau SPTJM kebenaran pasangan suami istri", "en": "Parents' marriage book or certificate, or a signed statement of responsibility (SPTJM)"},
       {"id": "KTP-el kedua orang tua", "en": "Both parents' e-KTP"}
     ]$j$,
     0, NULL, NULL, 240, 450, 'DISDUKCAPIL-KLM', '{}', false, false, '[]',
     ARRAY['akta', 'kelahiran', 'birth certificate', 'adminduk']),

    ('akta-kematian', 'adminduk',
     'Penerbitan Akta Kematian',
     'Death certificate issuance',
     'Pencatatan kematian dan penerbitan kutipan akta kematian; data KK diperbarui sekaligus.',
     'Registration of a death and issuance of the death certificate; the family card is updated at the same time.',
     $j$[
       {"id": "Surat keterangan kematian dari rumah sakit, puskesmas, atau kelurahan", "en": "Death statement from the hospital, health centre or kelurahan office"},
       {"id": "Kartu Keluarga almarhum/almarhumah", "en": "Family card of the deceased"},
       {"id": "KTP-el almarhum/almarhumah", "en": "e-KTP of the deceased"},
       {"id": "KTP-el pelapor", "en": "e-KTP of the person reporting"}
     ]$j$,
     0, NULL, NULL, 240, 450, 'DISDUKCAPIL-KLM', '{}', false, false, '[]',
     ARRAY['akta', 'kematian', 'death certificate', 'adminduk']),

    ('pindah-datang', 'adminduk',
     'Surat Keterangan Pindah / Pendaftaran Kedatangan',
     'Moving out certificate / registration of arrival',
     'Penerbitan Surat Keterangan Pindah (SKPWNI) bagi penduduk yang pindah, atau pendaftaran penduduk yang datang ke Kota Serang.',
     'Moving certificate (SKPWNI) for residents moving away, or registration of residents arriving in Kota Serang.',
     $j$[
       {"id": "Kartu Keluarga", "en": "Family card (KK)"},
       {"id": "KTP-el", "en": "e-KTP"},
       {"id": "Formulir F-1.03 (pendaftaran perpindahan penduduk)", "en": "Form F-1.03 (registration of moving residents)"},
       {"id": "Surat Keterangan Pindah dari daerah asal (untuk kedatangan)", "en": "Moving certificate from the region of origin (for arrivals)"}
     ]$j$,
     0, NULL, NULL, 240, 1350, 'DISDUKCAPIL-PDP', '{}', false, false,
     $j$[
       {"code": "jenis", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Pindah keluar atau datang", "description_en": "Moving out or arriving",
        "values": [
          {"key": "pindah_keluar", "name": "Pindah keluar"},
          {"key": "datang", "name": "Datang"}]},
       {"code": "klasifikasi", "datatype": "singlevaluelist", "required": false, "order": 2,
        "description_id": "Klasifikasi perpindahan", "description_en": "Kind of move",
        "values": [
          {"key": "dalam_kota", "name": "Dalam Kota Serang"},
          {"key": "antar_kabkota", "name": "Antar kabupaten/kota dalam Provinsi Banten"},
          {"key": "antar_provinsi", "name": "Antar provinsi"}]}
     ]$j$,
     ARRAY['pindah', 'datang', 'skpwni', 'moving', 'adminduk']),

    -- ---------------------------------------------------------------- permits
    ('nib-oss', 'perizinan',
     'Pendampingan Penerbitan NIB melalui OSS',
     'Assistance with business identification number (NIB) via OSS',
     'Pendampingan pelaku usaha mikro dan kecil untuk mendapatkan Nomor Induk Berusaha melalui sistem OSS berbasis risiko.',
     'Assistance for micro and small businesses to obtain a business identification number (NIB) through the risk-based OSS system.',
     $j$[
       {"id": "KTP-el pemilik usaha", "en": "Business owner's e-KTP"},
       {"id": "NPWP (jika ada)", "en": "Tax number (NPWP), if any"},
       {"id": "Alamat e-mail dan nomor HP yang aktif", "en": "Active e-mail address and mobile number"},
       {"id": "Data usaha: lokasi, bidang usaha (KBLI), dan modal", "en": "Business data: location, line of business (KBLI) and capital"}
     ]$j$,
     0, NULL, NULL, 240, 450, 'DPMPTSP-USAHA', '{}', false, false, '[]',
     ARRAY['nib', 'oss', 'izin usaha', 'business', 'umkm']),

    ('pbg', 'perizinan',
     'Persetujuan Bangunan Gedung (PBG)',
     'Building approval (PBG)',
     'Persetujuan untuk membangun baru, mengubah, memperluas, atau merawat bangunan gedung sesuai standar teknis.',
     'Approval to build, alter, extend or maintain a building according to technical standards.',
     $j$[
       {"id": "KTP-el pemohon", "en": "Applicant's e-KTP"},
       {"id": "Bukti kepemilikan atau hak atas tanah", "en": "Proof of land ownership or rights"},
       {"id": "Konfirmasi/persetujuan kesesuaian kegiatan pemanfaatan ruang (KKPR)", "en": "Spatial-planning conformity approval (KKPR)"},
       {"id": "Dokumen rencana teknis: arsitektur, struktur, dan utilitas", "en": "Technical design documents: architecture, structure and utilities"},
       {"id": "Gambar situasi dan foto lokasi", "en": "Site plan and photos of the site"}
     ]$j$,
     0,
     'Retribusi PBG dihitung per permohonan dari luas dan indeks bangunan sesuai Perda pajak dan retribusi daerah; tagihan terbit setelah penilaian teknis.',
     'The PBG retribution is assessed per application from floor area and building indices under the regional tax and retribution bylaw; the bill is issued after the technical assessment.',
     900, 12600, 'DPMPTSP-BANGUNAN', '{}', false, false,
     $j$[
       {"code": "fungsi_bangunan", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Fungsi bangunan", "description_en": "Building function",
        "values": [
          {"key": "hunian", "name": "Hunian"},
          {"key": "usaha", "name": "Usaha"},
          {"key": "sosial_budaya", "name": "Sosial dan budaya"},
          {"key": "keagamaan", "name": "Keagamaan"},
          {"key": "campuran", "name": "Campuran"}]},
       {"code": "luas_bangunan_m2", "datatype": "number", "required": true, "order": 2,
        "description_id": "Luas total lantai bangunan (m2)", "description_en": "Total floor area (m2)"}
     ]$j$,
     ARRAY['pbg', 'imb', 'bangunan', 'building permit']),

    ('sip-nakes', 'perizinan',
     'Surat Izin Praktik Tenaga Kesehatan (SIP)',
     'Practice licence for health workers (SIP)',
     'Izin praktik bagi dokter, dokter gigi, bidan, perawat, dan apoteker di fasilitas pelayanan kesehatan di Kota Serang.',
     'Practice licence for doctors, dentists, midwives, nurses and pharmacists at health facilities in Kota Serang.',
     $j$[
       {"id": "Surat Tanda Registrasi (STR) yang masih berlaku", "en": "Valid registration certificate (STR)"},
       {"id": "Surat keterangan dari fasilitas pelayanan kesehatan tempat praktik", "en": "Letter from the health facility where you will practise"},
       {"id": "Rekomendasi organisasi profesi", "en": "Recommendation from the professional association"},
       {"id": "Pas foto berwarna terbaru", "en": "Recent colour photograph"}
     ]$j$,
     0, NULL, NULL, 480, 2250, 'DPMPTSP-KESEHATAN', '{}', false, false,
     $j$[
       {"code": "profesi", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Profesi tenaga kesehatan", "description_en": "Health profession",
        "values": [
          {"key": "dokter", "name": "Dokter"},
          {"key": "dokter_gigi", "name": "Dokter gigi"},
          {"key": "bidan", "name": "Bidan"},
          {"key": "perawat", "name": "Perawat"},
          {"key": "apoteker", "name": "Apoteker"}]}
     ]$j$,
     ARRAY['sip', 'izin praktik', 'dokter', 'bidan', 'perawat', 'health']),

    -- ---------------------------------------------------------------- social services
    ('dtks-bansos', 'sosial',
     'Usulan Data Terpadu Kesejahteraan Sosial dan Bantuan Sosial',
     'Enrolment in the social welfare register and social assistance',
     'Usulan pendaftaran atau pembaruan data keluarga dalam data terpadu kesejahteraan sosial sebagai dasar penerima bantuan sosial.',
     'Request to add or update a family in the integrated social welfare register used to select recipients of social assistance.',
     $j$[
       {"id": "KTP-el dan Kartu Keluarga", "en": "e-KTP and family card"},
       {"id": "Surat keterangan dari RT/RW dan kelurahan", "en": "Letter from the RT/RW and the kelurahan"},
       {"id": "Foto rumah tampak depan dan dalam", "en": "Photos of the house, front and inside"}
     ]$j$,
     0, NULL, NULL, 480, 6300, 'DINSOS-DATA', '{}', false, false,
     $j$[
       {"code": "program", "datatype": "multivaluelist", "required": false, "order": 1,
        "description_id": "Program bantuan yang diusulkan", "description_en": "Assistance programmes requested",
        "values": [
          {"key": "pkh", "name": "Program Keluarga Harapan (PKH)"},
          {"key": "bpnt", "name": "Bantuan Pangan Non Tunai (BPNT)"},
          {"key": "pbi_jk", "name": "Penerima Bantuan Iuran Jaminan Kesehatan (PBI-JK)"}]}
     ]$j$,
     ARRAY['dtks', 'dtsen', 'bansos', 'pkh', 'bpnt', 'social assistance']),

    ('sktm', 'sosial',
     'Rekomendasi Surat Keterangan Tidak Mampu (SKTM)',
     'Certificate of low income (SKTM) recommendation',
     'Verifikasi dan rekomendasi Dinas Sosial atas SKTM untuk keringanan biaya kesehatan atau pendidikan.',
     'Verification and recommendation by the social affairs office of a low-income certificate, for health or education fee relief.',
     $j$[
       {"id": "KTP-el dan Kartu Keluarga", "en": "e-KTP and family card"},
       {"id": "Surat pengantar RT/RW", "en": "Introduction letter from the RT/RW"},
       {"id": "Surat keterangan tidak mampu dari kelurahan", "en": "Low-income statement from the kelurahan"},
       {"id": "Dokumen pendukung keperluan, misalnya surat rujukan rumah sakit", "en": "Supporting document for the purpose, e.g. a hospital referral"}
     ]$j$,
     0, NULL, NULL, 240, 450, 'DINSOS-LINJAMSOS', '{}', false, false,
     $j$[
       {"code": "keperluan", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Keperluan SKTM", "description_en": "Purpose of the certificate",
        "values": [
          {"key": "kesehatan", "name": "Kesehatan"},
          {"key": "pendidikan", "name": "Pendidikan"},
          {"key": "lainnya", "name": "Lainnya"}]}
     ]$j$,
     ARRAY['sktm', 'tidak mampu', 'low income', 'keringanan']),

    -- ---------------------------------------------------------------- ASN personnel (not public)
    ('kenaikan-pangkat', 'kepegawaian',
     'Usulan Kenaikan Pangkat ASN',
     'Civil servant promotion in rank',
     'Pemeriksaan berkas dan pengusulan kenaikan pangkat reguler atau pilihan bagi PNS Pemerintah Kota Serang.',
     'File check and submission of a regular or selective promotion in rank for civil servants of the city government.',
     $j$[
       {"id": "SK pangkat terakhir", "en": "Decree of the current rank"},
       {"id": "SK jabatan terakhir", "en": "Decree of the current position"},
       {"id": "SKP dua tahun terakhir", "en": "Performance targets (SKP) of the last two years"},
       {"id": "Penetapan angka kredit (untuk jabatan fungsional)", "en": "Credit score assessment (PAK) for functional positions"},
       {"id": "Ijazah dan transkrip (untuk penyesuaian ijazah)", "en": "Diploma and transcript (for promotion by education)"}
     ]$j$,
     0, NULL, NULL, 900, 6300, 'BKPSDM-MUTASI', '{}', false, false,
     $j$[
       {"code": "periode", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Periode kenaikan pangkat", "description_en": "Promotion period",
        "values": [
          {"key": "april", "name": "Periode April"},
          {"key": "oktober", "name": "Periode Oktober"}]},
       {"code": "jenis", "datatype": "singlevaluelist", "required": true, "order": 2,
        "description_id": "Jenis kenaikan pangkat", "description_en": "Kind of promotion",
        "values": [
          {"key": "reguler", "name": "Reguler"},
          {"key": "jabatan_struktural", "name": "Pilihan: jabatan struktural"},
          {"key": "jabatan_fungsional", "name": "Pilihan: jabatan fungsional"},
          {"key": "penyesuaian_ijazah", "name": "Pilihan: penyesuaian ijazah"}]}
     ]$j$,
     ARRAY['kenaikan pangkat', 'kp', 'asn', 'pns', 'promotion']),

    ('cuti-asn', 'kepegawaian',
     'Permohonan Cuti ASN',
     'Civil servant leave request',
     'Permohonan cuti besar, cuti sakit, cuti melahirkan, cuti karena alasan penting, atau cuti di luar tanggungan negara.',
     'Request for long-service, sick, maternity, compassionate, or unpaid leave.',
     $j$[
       {"id": "Formulir permohonan cuti yang disetujui atasan langsung", "en": "Leave request form approved by the direct superior"},
       {"id": "Surat keterangan dokter (untuk cuti sakit)", "en": "Doctor's certificate (for sick leave)"},
       {"id": "Surat keterangan dokter atau bidan (untuk cuti melahirkan)", "en": "Doctor's or midwife's certificate (for maternity leave)"}
     ]$j$,
     0, NULL, NULL, 480, 1350, 'BKPSDM-BINKES', '{}', false, false,
     $j$[
       {"code": "jenis_cuti", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Jenis cuti", "description_en": "Kind of leave",
        "values": [
          {"key": "besar", "name": "Cuti besar"},
          {"key": "sakit", "name": "Cuti sakit"},
          {"key": "melahirkan", "name": "Cuti melahirkan"},
          {"key": "alasan_penting", "name": "Cuti karena alasan penting"},
          {"key": "cltn", "name": "Cuti di luar tanggungan negara"}]},
       {"code": "mulai", "datatype": "datetime", "required": true, "order": 2,
        "description_id": "Tanggal mulai cuti", "description_en": "First day of leave"}
     ]$j$,
     ARRAY['cuti', 'asn', 'pns', 'leave']),

    ('mutasi-asn', 'kepegawaian',
     'Permohonan Mutasi/Pindah Tugas ASN',
     'Civil servant transfer request',
     'Permohonan pindah tugas antar perangkat daerah atau antar instansi bagi PNS Pemerintah Kota Serang.',
     'Request by a civil servant of the city government to transfer to another agency or another government.',
     $j$[
       {"id": "Surat permohonan pindah", "en": "Transfer request letter"},
       {"id": "Surat persetujuan melepas dari kepala perangkat daerah asal", "en": "Release approval from the head of the current agency"},
       {"id": "Surat persetujuan menerima dari instansi tujuan", "en": "Acceptance letter from the receiving agency"},
       {"id": "SK pangkat dan SK jabatan terakhir", "en": "Decrees of the current rank and position"},
       {"id": "SKP dua tahun terakhir", "en": "Performance targets (SKP) of the last two years"}
     ]$j$,
     0, NULL, NULL, 900, 9000, 'BKPSDM-MUTASI', '{}', false, false, '[]',
     ARRAY['mutasi', 'pindah tugas', 'asn', 'transfer']),

    -- ---------------------------------------------------------------- complaints
    -- Both complaint services move a breached complaint to the parent unit, so that it leaves a
    -- unit that let it lapse, and allow several open complaints per person.
    ('pengaduan-pelayanan', 'pengaduan',
     'Pengaduan Pelayanan Publik',
     'Public service complaint',
     'Pengaduan atas pelayanan publik Pemerintah Kota Serang: pelayanan yang lambat, pungutan liar, atau perilaku petugas.',
     'Complaint about a public service of the city government: slow service, illegal charges, or staff conduct.',
     $j$[
       {"id": "Identitas pelapor (dapat dirahasiakan)", "en": "Identity of the complainant (may be kept confidential)"},
       {"id": "Uraian kejadian: waktu, tempat, dan unit layanan", "en": "What happened: when, where, and which service unit"},
       {"id": "Bukti pendukung bila ada (foto, dokumen)", "en": "Supporting evidence if any (photos, documents)"}
     ]$j$,
     0, NULL, NULL, 240, 6300, 'INSPEKTORAT-IRBANSUS',
     $j${"stages": [
            {"percent": 50,  "notify": ["assignee"]},
            {"percent": 75,  "notify": ["assignee", "supervisors"]},
            {"percent": 100, "notify": ["assignee", "supervisors", "managers"], "breach": true,
             "escalation_levels": 1, "priority_boost": 20, "move_to_parent": true}],
         "repeat_every_percent": 25,
         "repeat": {"notify": ["supervisors", "managers"], "escalation_levels": 1, "priority_boost": 10, "move_to_parent": true},
         "max_escalation_level": 3}$j$,
     true, true,
     $j$[
       {"code": "kategori", "datatype": "singlevaluelist", "required": true, "order": 1,
        "description_id": "Layanan yang diadukan", "description_en": "Service complained about",
        "values": [
          {"key": "adminduk", "name": "Administrasi kependudukan"},
          {"key": "perizinan", "name": "Perizinan"},
          {"key": "sosial", "name": "Layanan sosial"},
          {"key": "kesehatan", "name": "Kesehatan"},
          {"key": "pendidikan", "name": "Pendidikan"},
          {"key": "lainnya", "name": "Lainnya"}]},
       {"code": "waktu_kejadian", "datatype": "datetime", "required": false, "order": 2,
        "description_id": "Waktu kejadian", "description_en": "When it happened"},
       {"code": "kode_pelacakan_terkait", "datatype": "string", "required": false, "order": 3,
        "description_id": "Kode pelacakan permohonan yang terkait (jika ada)", "description_en": "Tracking code of the related request, if any"}
     ]$j$,
     ARRAY['pengaduan', 'keluhan', 'complaint', 'lapor']),

    ('pengaduan-asn', 'pengaduan',
     'Pengaduan Pelanggaran Disiplin ASN',
     'Complaint about civil servant misconduct',
     'Pengaduan dugaan pelanggaran disiplin atau kode etik oleh ASN Pemerintah Kota Serang. Identitas pelapor dirahasiakan.',
     'Report of suspected breaches of discipline or ethics by a civil servant of the city government. The complainant''s identity is kept confidential.',
     $j$[
       {"id": "Identitas pelapor (dirahasiakan)", "en": "Identity of the complainant (kept confidential)"},
       {"id": "Nama dan unit kerja ASN yang diadukan", "en": "Name and unit of the civil servant concerned"},
       {"id": "Uraian dugaan pelanggaran dan bukti pendukung", "en": "Description of the suspected breach and supporting evidence"}
     ]$j$,
     0, NULL, NULL, 240, 6300, 'INSPEKTORAT-IRBANSUS',
     $j${"stages": [
            {"percent": 50,  "notify": ["assignee"]},
            {"percent": 75,  "notify": ["assignee", "supervisors"]},
            {"percent": 100, "notify": ["assignee", "supervisors", "managers"], "breach": true,
             "escalation_levels": 1, "priority_boost": 20, "move_to_parent": true}],
         "repeat_every_percent": 25,
         "repeat": {"notify": ["supervisors", "managers"], "escalation_levels": 1, "priority_boost": 10, "move_to_parent": true},
         "max_escalation_level": 3}$j$,
     false, true, '[]',
     ARRAY['pengaduan', 'asn', 'disiplin', 'misconduct'])
) AS v (code, group_code, name_id, name_en, description_id, description_en, requirements,
        fee_rupiah, fee_note_id, fee_note_en, response_target_minutes, resolution_target_minutes,
        unit_code, escalation_policy, is_public, allow_multiple_open, attributes, keywords)
WHERE NOT EXISTS (SELECT 1 FROM service_types s WHERE s.code = v.code)
ON CONFLICT (code) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Routing rules. A rule for the service beats one for any service, then the most specific area
-- wins (village > district > any), then priority (docs/sla.md).
--   * KTP-el: Kasemen and Walantaka go to the Kasemen service post, the rest of the city to the
--     main office (Seksi Identitas Penduduk); Kelurahan Teritih (Walantaka) lies close to the
--     main office and is sent there by a village rule that beats the Walantaka district rule.
--   * KTP-el in Cipocok Jaya: a baseline rule (priority 0) to the main office and an overflow
--     rule (priority 10) to the Kasemen post; while both are active the overflow wins, and
--     deactivating it falls back to the baseline without touching anything else.
--   * Akta kelahiran from Kasemen is also handled at the Kasemen post.
-- A rule is keyed by (service, area, priority, unit), active or not, so a rule an admin has
-- deactivated is not brought back.
-- ---------------------------------------------------------------------------------------------
INSERT INTO routing_rules (service_type_id, area_code, unit_id, priority, note)
SELECT s.id, v.area_code, u.id, v.priority, v.note
FROM (VALUES
    ('ktp-el',         NULL,            'DISDUKCAPIL-IDP',         0,  'KTP-el: kantor utama untuk wilayah yang tidak diatur khusus'),
    ('ktp-el',         '36.73.02',      'DISDUKCAPIL-POS-KASEMEN', 0,  'KTP-el Kecamatan Kasemen dilayani Pos Pelayanan Adminduk Kasemen'),
    ('ktp-el',         '36.73.03',      'DISDUKCAPIL-POS-KASEMEN', 0,  'KTP-el Kecamatan Walantaka dilayani Pos Pelayanan Adminduk Kasemen'),
    ('ktp-el',         '36.73.03.1010', 'DISDUKCAPIL-IDP',         0,  'Kelurahan Teritih lebih dekat ke kantor utama'),
    ('ktp-el',         '36.73.05',      'DISDUKCAPIL-IDP',         0,  'KTP-el Kecamatan Cipocok Jaya: kantor utama (aturan dasar)'),
    ('ktp-el',         '36.73.05',      'DISDUKCAPIL-POS-KASEMEN', 10, 'Limpahan sementara: KTP-el Cipocok Jaya ke Pos Kasemen; nonaktifkan untuk kembali ke aturan dasar'),
    ('akta-kelahiran', '36.73.02',      'DISDUKCAPIL-POS-KASEMEN', 0,  'Akta kelahiran Kecamatan Kasemen dilayani Pos Pelayanan Adminduk Kasemen')
) AS v (service_code, area_code, unit_code, priority, note)
JOIN service_types s ON s.code = v.service_code
JOIN units u ON u.code = v.unit_code
WHERE NOT EXISTS (
    SELECT 1 FROM routing_rules r
    WHERE r.service_type_id = s.id
      AND r.area_code IS NOT DISTINCT FROM v.area_code
      AND r.priority = v.priority
      AND r.unit_id = u.id)
ON CONFLICT (service_type_id, area_code, priority) WHERE active DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Staff: fictional officers. NIP = birth date YYYYMMDD, appointment YYYYMM, gender (1 male,
-- 2 female), 3-digit serial. Roles: manager = head of an agency or division, supervisor = head
-- of a section (or of a division without sections), staff = officer. No tokens here: create
-- them with the admin command.
-- ---------------------------------------------------------------------------------------------
INSERT INTO staff (nip, name, email, unit_id, role)
SELECT v.nip, v.name, v.email, (SELECT id FROM units WHERE code = v.unit_code), v.role
FROM (VALUES
    ('197204151998031005', 'Drs. H. Ahmad Fauzi, M.Si.',        'ahmad.fauzi@serangkota.example',        'SETDA',                   'manager'),
    ('198807222014022001', 'Rina Marlina, S.Kom.',              'rina.marlina@serangkota.example',       'SETDA',                   'admin'),

    ('198011032006041012', 'Dedi Supriadi, S.Sos.',             'dedi.supriadi@serangkota.example',      'MPP-FO',                  'supervisor'),
    ('199305172019032008', 'Siti Nurhaliza, S.AP.',             'siti.nurhaliza@serangkota.example',     'MPP-FO',                  'staff'),
    ('199609092020121004', 'Muhammad Rizki Pratama, A.Md.',     'rizki.pratama@serangkota.example',      'MPP-FO',                  'staff'),

    ('197506202000031002', 'Drs. Bambang Hermawan, M.M.',       'bambang.hermawan@serangkota.example',   'DISDUKCAPIL',             'manager'),
    ('197808122003122003', 'Yuliani Kartika, S.H., M.H.',       'yuliani.kartika@serangkota.example',    'DISDUKCAPIL-DAFDUK',      'manager'),
    ('198203012006041007', 'Asep Saepudin, S.Kom.',             'asep.saepudin@serangkota.example',      'DISDUKCAPIL-IDP',         'supervisor'),
    ('199001142015032002', 'Nurul Hidayah, S.E.',               'nurul.hidayah@serangkota.example',      'DISDUKCAPIL-IDP',         'staff'),
    ('199411282019081001', 'Fajar Ramadhan, A.Md.Kom.',         'fajar.ramadhan@serangkota.example',     'DISDUKCAPIL-IDP',         'staff'),
    ('198505052010011011', 'Hendra Gunawan, S.IP.',             'hendra.gunawan@serangkota.example',     'DISDUKCAPIL-POS-KASEMEN', 'supervisor'),
    ('199202182018042005', 'Eneng Sumiati, S.Sos.',             'eneng.sumiati@serangkota.example',      'DISDUKCAPIL-POS-KASEMEN', 'staff'),
    ('198307072009032004', 'Dewi Lestari, S.Sos.',              'dewi.lestari@serangkota.example',       'DISDUKCAPIL-PDP',         'supervisor'),
    ('199503222020011003', 'Rudi Hartono, S.Kom.',              'rudi.hartono@serangkota.example',       'DISDUKCAPIL-PDP',         'staff'),
    ('197909112005011006', 'Agus Salim, S.H.',                  'agus.salim@serangkota.example',         'DISDUKCAPIL-CAPIL',       'manager'),
    ('198404162010012009', 'Ratna Sari Dewi, S.H.',             'ratna.dewi@serangkota.example',         'DISDUKCAPIL-KLM',         'supervisor'),
    ('199106302017031002', 'Ujang Rohman, S.Kom.',              'ujang.rohman@serangkota.example',       'DISDUKCAPIL-KLM',         'staff'),

    ('197402281999031004', 'Ir. Tb. Hasanudin, M.T.',           'tb.hasanudin@serangkota.example',       'DPMPTSP',                 'manager'),
    ('198005192005022001', 'Lilis Suryani, S.T., M.Si.',        'lilis.suryani@serangkota.example',      'DPMPTSP-YANZIN',          'manager'),
    ('198610102011011008', 'Yusuf Maulana, S.E.',               'yusuf.maulana@serangkota.example',      'DPMPTSP-USAHA',           'supervisor'),
    ('199708052022032006', 'Putri Anggraeni, S.Ak.',            'putri.anggraeni@serangkota.example',    'DPMPTSP-USAHA',           'staff'),
    ('198101272007011005', 'Wahyu Nugroho, S.T.',               'wahyu.nugroho@serangkota.example',      'DPMPTSP-BANGUNAN',        'supervisor'),
    ('199309032019031010', 'Iwan Setiawan, S.T.',               'iwan.setiawan@serangkota.example',      'DPMPTSP-BANGUNAN',        'staff'),
    ('198702142012122002', 'dr. Maya Puspitasari',              'maya.puspitasari@serangkota.example',   'DPMPTSP-KESEHATAN',       'supervisor'),

    ('197303031998031006', 'Drs. Tb. Ahmad Syafei, M.Si.',      'tb.syafei@serangkota.example',          'BKPSDM',                  'manager'),
    ('198208082008011003', 'Eko Prasetyo, S.Sos., M.AP.',       'eko.prasetyo@serangkota.example',       'BKPSDM-MUTASI',           'supervisor'),
    ('199512122020012004', 'Annisa Fitriani, S.AP.',            'annisa.fitriani@serangkota.example',    'BKPSDM-MUTASI',           'staff'),
    ('198311202009022006', 'Hj. Euis Komalasari, S.Psi.',       'euis.komalasari@serangkota.example',    'BKPSDM-BINKES',           'supervisor'),
    ('199604012021041002', 'Rizal Fahmi, S.H.',                 'rizal.fahmi@serangkota.example',        'BKPSDM-BINKES',           'staff'),

    ('197609152002121003', 'H. Mulyadi, S.Sos., M.Si.',         'mulyadi@serangkota.example',            'DINSOS',                  'manager'),
    ('198506102010012012', 'Sri Wahyuni, S.ST.',                'sri.wahyuni@serangkota.example',        'DINSOS-LINJAMSOS',        'supervisor'),
    ('198803222014031001', 'Deni Kurniawan, S.Kom.',            'deni.kurniawan@serangkota.example',     'DINSOS-DATA',             'supervisor'),
    ('199807172022032003', 'Laila Nurjanah, S.Tr.Sos.',         'laila.nurjanah@serangkota.example',     'DINSOS-DATA',             'staff'),

    ('197107071997031002', 'Dr. H. Saepul Anwar, M.Si., Ak.',   'saepul.anwar@serangkota.example',       'INSPEKTORAT',             'manager'),
    ('198402292009041004', 'Taufik Hidayat, S.E., M.Ak.',       'taufik.hidayat@serangkota.example',     'INSPEKTORAT-IRBANSUS',    'supervisor'),
    ('199009192015032007', 'Nenden Rahayu, S.H.',               'nenden.rahayu@serangkota.example',      'INSPEKTORAT-IRBANSUS',    'staff')
) AS v (nip, name, email, unit_code, role)
WHERE NOT EXISTS (SELECT 1 FROM staff s WHERE s.nip = v.nip)
ON CONFLICT (nip) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- A misspelt code above would drop a row silently (a JOIN) or fail late; check the result.
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(v.code, ', ') INTO missing
    FROM (VALUES ('ktp-el'), ('akta-kelahiran')) AS v (code)
    WHERE NOT EXISTS (SELECT 1 FROM routing_rules r JOIN service_types s ON s.id = r.service_type_id
                      WHERE s.code = v.code);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'seed: no routing rules for %', missing;
    END IF;
    IF (SELECT count(*) FROM units WHERE is_triage) <> 1 THEN
        RAISE EXCEPTION 'seed: expected exactly one triage unit';
    END IF;
    IF EXISTS (SELECT 1 FROM units WHERE code <> 'SETDA' AND parent_id IS NULL) THEN
        RAISE EXCEPTION 'seed: a unit other than SETDA has no parent';
    END IF;
END
$$;
