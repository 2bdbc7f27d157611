import LoketCore

/// The words of the HTML pages, Indonesian first, English second. Templates read them as
/// `{{t.key}}`; Swift code builds sentences with numbers through `PageStrings.text`.
enum PageStrings {
    static let all: [String: LocalizedText] = [
        // Layout
        "site_name": .init(id: "Loket Kota Serang", en: "Loket · Kota Serang"),
        "skip": .init(id: "Langsung ke isi", en: "Skip to content"),
        "nav_label": .init(id: "Menu utama", en: "Main menu"),
        "nav_home": .init(id: "Beranda", en: "Home"),
        "nav_transparency": .init(id: "Transparansi", en: "Transparency"),
        "nav_catalog": .init(id: "Layanan", en: "Services"),
        "nav_tracking": .init(id: "Lacak permohonan", en: "Track a request"),
        "nav_dashboard": .init(id: "Dasbor manajer", en: "Manager dashboard"),
        "footer": .init(
            id: "Loket: layanan administrasi publik Pemerintah Kota Serang. Kinerja setiap unit terbuka untuk umum.",
            en: "Loket: public administrative services of the Kota Serang city government. Every unit's record is public."),
        "open_data_json": .init(id: "Data terbuka (JSON)", en: "Open data (JSON)"),
        "open_data_csv": .init(id: "Data terbuka (CSV)", en: "Open data (CSV)"),
        "error_code": .init(id: "Kode", en: "Code"),
        "request_id": .init(id: "ID permintaan", en: "Request ID"),
        "back_home": .init(id: "Kembali ke beranda", en: "Back to the home page"),
        "no_data": .init(id: "Belum ada data untuk periode ini.", en: "No data for this period yet."),
        "details": .init(id: "rincian", en: "details"),
        "required": .init(id: "wajib", en: "required"),

        // Home
        "home_heading": .init(id: "Layanan publik yang terbuka dan tepat waktu", en: "Public services, open and on time"),
        "home_lead": .init(
            id: "Ajukan dan pantau permohonan layanan administrasi Kota Serang, lihat standar setiap layanan, dan periksa catatan ketepatan waktu setiap unit.",
            en: "File and follow requests for Kota Serang's administrative services, read each service's standard, and check every unit's on-time record."),
        "home_transparency": .init(
            id: "Volume, ketepatan waktu, waktu penyelesaian dan indeks kepuasan (IKM) per unit dan layanan.",
            en: "Volume, on-time share, time to resolve and satisfaction index (IKM) per unit and service."),
        "home_catalog": .init(id: "Persyaratan, biaya dan waktu penyelesaian setiap layanan.", en: "Requirements, fee and target time of every service."),
        "home_tracking": .init(
            id: "Status, tenggat dan riwayat permohonan Anda dengan kode pelacakan dan token akses.",
            en: "Status, deadlines and history of your request with its tracking code and access token."),
        "home_dashboard": .init(id: "Pelanggaran tenggat, peta ketepatan waktu dan tren untuk manajer.", en: "Breaches, on-time heat map and trend for managers."),
        "home_api_heading": .init(id: "Untuk pengembang", en: "For developers"),
        "home_api": .init(
            id: "Semua data di halaman ini juga tersedia melalui API terbuka (JSON dan CSV) dan Open311 GeoReport v2.",
            en: "Everything on these pages is also available through the open API (JSON and CSV) and Open311 GeoReport v2."),

        // Transparency
        "transparency_heading": .init(id: "Transparansi kinerja layanan", en: "Service performance, in the open"),
        "transparency_lead": .init(
            id: "Catatan setiap unit dan jenis layanan: berapa permohonan diselesaikan, berapa yang tepat waktu, berapa lama, dan seberapa puas warga.",
            en: "Each unit's and service's record: how many requests were closed, how many on time, how long they took, and how satisfied citizens were."),
        "transparency_note": .init(
            id: "Waktu dihitung dalam jam kerja; masa menunggu kelengkapan dari pemohon tidak dihitung.",
            en: "Times are in working hours; time spent waiting for the citizen is not counted."),
        "period_from": .init(id: "Dari tanggal", en: "From"),
        "period_to": .init(id: "Sampai tanggal", en: "To"),
        "period_show": .init(id: "Tampilkan", en: "Show"),
        "period_label": .init(id: "Periode", en: "Period"),
        "summary_heading": .init(id: "Ringkasan", en: "Summary"),
        "chart_units_heading": .init(id: "Penyelesaian tepat waktu per unit", en: "Resolved on time, per unit"),
        "trend_heading": .init(id: "Tren bulanan", en: "Monthly trend"),
        "trend_table": .init(id: "Tabel data tren", en: "Trend data table"),
        "per_unit_heading": .init(id: "Per unit", en: "Per unit"),
        "per_service_heading": .init(id: "Per jenis layanan", en: "Per service"),
        "open_data_heading": .init(id: "Data terbuka", en: "Open data"),
        "open_data_text": .init(
            id: "Angka di halaman ini dapat diunduh untuk periode yang sama, bebas digunakan kembali.",
            en: "The numbers on this page can be downloaded for the same period, free to reuse."),
        "col_closed": .init(id: "Selesai", en: "Closed"),
        "col_on_time": .init(id: "Tepat waktu", en: "On time"),
        "col_median": .init(id: "Median waktu", en: "Median time"),
        "col_ikm": .init(id: "IKM", en: "IKM"),
        "col_month": .init(id: "Bulan", en: "Month"),

        // Catalog
        "catalog_heading": .init(id: "Daftar layanan", en: "Service catalog"),
        "catalog_lead": .init(
            id: "Standar pelayanan setiap layanan: persyaratan, biaya dan waktu penyelesaian dalam hari kerja.",
            en: "Each service's published standard: requirements, fee and target time in working days."),
        "catalog_api": .init(id: "Data yang sama dalam JSON:", en: "The same data as JSON:"),
        "no_services": .init(id: "Belum ada layanan yang diterbitkan.", en: "No service is published yet."),
        "fee": .init(id: "Biaya", en: "Fee"),
        "requirements": .init(id: "Persyaratan", en: "Requirements"),
        "no_requirements": .init(id: "Tidak ada persyaratan khusus.", en: "No particular requirements."),
        "response_target": .init(id: "Ditanggapi paling lambat", en: "Taken up within"),
        "resolution_target": .init(id: "Selesai paling lambat", en: "Completed within"),
        "responsible_unit": .init(id: "Unit penanggung jawab", en: "Responsible unit"),
        "service_code": .init(id: "Kode layanan", en: "Service code"),
        "fields_heading": .init(id: "Isian saat mengajukan", en: "Information asked when filing"),
        "targets_note": .init(
            id: "Dihitung dalam hari dan jam kerja kalender layanan ini, tanpa hari libur nasional dan cuti bersama. Waktu menunggu kelengkapan dari pemohon tidak dihitung.",
            en: "Counted in the working days and hours of this service's calendar, without national holidays and joint leave days. Time spent waiting for the citizen is not counted."),
        "service_api": .init(id: "Data layanan ini dalam JSON:", en: "This service as JSON:"),

        // Tracking
        "tracking_heading": .init(id: "Lacak permohonan", en: "Track a request"),
        "tracking_lead": .init(
            id: "Masukkan kode pelacakan dan token akses yang Anda terima saat mengajukan permohonan.",
            en: "Enter the tracking code and the access token you received when you filed the request."),
        "tracking_code": .init(id: "Kode pelacakan", en: "Tracking code"),
        "access_token": .init(id: "Token akses", en: "Access token"),
        "access_token_hint": .init(
            id: "Token akses bersifat rahasia, seperti kata sandi. Jangan bagikan kepada siapa pun, termasuk petugas.",
            en: "The access token is secret, like a password. Do not share it with anyone, officers included."),
        "tracking_submit": .init(id: "Lacak", en: "Track"),
        "tracking_result_heading": .init(id: "Permohonan", en: "Request"),
        "tracking_another": .init(id: "Lacak permohonan lain", en: "Track another request"),
        "tracking_api_note": .init(
            id: "Untuk menanggapi, mengunggah dokumen, membatalkan atau memberi penilaian, gunakan aplikasi Loket atau API warga.",
            en: "To reply, upload documents, cancel or give feedback, use the Loket app or the citizen API."),
        "officer_asked": .init(id: "Petugas memerlukan kelengkapan dari Anda", en: "The officer needs something from you"),
        "sla_paused": .init(id: "Tenggat dijeda sampai Anda menanggapi.", en: "Deadlines are paused until you reply."),
        "officer_message": .init(id: "Pesan petugas", en: "Message from the officer"),
        "reject_reason": .init(id: "Alasan penolakan", en: "Reason for rejection"),
        "applicant": .init(id: "Pemohon", en: "Applicant"),
        "filed_at": .init(id: "Diajukan", en: "Filed"),
        "response_due": .init(id: "Batas waktu mulai ditangani", en: "To be taken up by"),
        "resolution_due": .init(id: "Perkiraan selesai paling lambat", en: "Expected completion by"),
        "closed_at": .init(id: "Berakhir", en: "Closed"),
        "timeline": .init(id: "Riwayat", en: "Timeline"),
        "documents": .init(id: "Dokumen", en: "Documents"),
        "no_documents": .init(id: "Belum ada dokumen.", en: "No documents yet."),
        "document_name": .init(id: "Nama berkas", en: "File name"),
        "document_size": .init(id: "Ukuran", en: "Size"),
        "document_by": .init(id: "Diunggah oleh", en: "Uploaded by"),
        "document_at": .init(id: "Waktu", en: "When"),

        // Sign-in and dashboard
        "signin_heading": .init(id: "Masuk ke dasbor manajer", en: "Sign in to the manager dashboard"),
        "signin_lead": .init(
            id: "Gunakan token pribadi Anda (peran manajer atau admin). Token tidak disimpan di peramban; sesi berakhir saat token dicabut atau kedaluwarsa.",
            en: "Use your personal token (manager or admin role). The token is not kept in the browser; the session ends when the token is revoked or expires."),
        "personal_token": .init(id: "Token pribadi", en: "Personal token"),
        "personal_token_hint": .init(
            id: "Dibuat oleh admin dengan loketd admin token issue.", en: "Issued by an administrator with loketd admin token issue."),
        "signin_submit": .init(id: "Masuk", en: "Sign in"),
        "signed_in_as": .init(id: "Masuk sebagai", en: "Signed in as"),
        "sign_out": .init(id: "Keluar", en: "Sign out"),
        "dashboard_heading": .init(id: "Dasbor manajer", en: "Manager dashboard"),
        "dashboard_scope": .init(id: "Cakupan:", en: "Scope:"),
        "dashboard_api": .init(id: "Data yang sama untuk skrip dan CLI:", en: "The same data for scripts and the CLI:"),
        "breaches_heading": .init(id: "Pelanggaran tenggat yang masih terbuka", en: "Open deadline breaches"),
        "no_breaches": .init(id: "Tidak ada permohonan yang melewati tenggat.", en: "No open request is past its deadline."),
        "heatmap_heading": .init(id: "Peta ketepatan waktu per unit dan bulan", en: "On-time heat map per unit and month"),
        "heatmap_lead": .init(
            id: "Persentase permohonan yang diselesaikan tepat waktu, menurut bulan penyelesaian. Unit tanpa permohonan selesai tidak ditampilkan.",
            en: "Share of requests resolved on time, by month of closing. Units that closed nothing are not shown."),
        "workload_heading": .init(id: "Beban kerja saat ini", en: "Workload now"),
        "no_open_work": .init(id: "Tidak ada permohonan terbuka.", en: "No open requests."),
        "col_code": .init(id: "Kode", en: "Code"),
        "col_service": .init(id: "Layanan", en: "Service"),
        "col_unit": .init(id: "Unit", en: "Unit"),
        "col_status": .init(id: "Status", en: "Status"),
        "col_assignee": .init(id: "Petugas", en: "Officer"),
        "col_clock": .init(id: "Tenggat", en: "Clock"),
        "col_due": .init(id: "Jatuh tempo", en: "Due"),
        "col_overdue": .init(id: "Terlambat", en: "Overdue"),
        "col_level": .init(id: "Eskalasi", en: "Escalation"),
        "col_queued": .init(id: "Antre", en: "Queued"),
        "col_in_progress": .init(id: "Diproses", en: "In progress"),
        "col_waiting": .init(id: "Menunggu warga", en: "Waiting for citizen"),
        "col_oldest": .init(id: "Tertua (hari)", en: "Oldest (days)"),
    ]

    /// Every string in one language, for `{{t.key}}`.
    static let indonesian: [String: String] = all.mapValues { $0.indonesian }
    static let english: [String: String] = all.mapValues { $0.english }

    static func table(_ language: Language) -> [String: String] {
        language == .english ? english : indonesian
    }

    static func text(_ key: String, _ language: Language) -> String {
        guard let entry = all[key] else { preconditionFailure("no page string \(key)") }
        return entry(language)
    }
}
