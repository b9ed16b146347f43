//! The console's two languages: Vietnamese (the default) and English.
//!
//! Every word the console shows comes from a [`Texts`] table, so the two languages always have
//! the same set of messages (a missing one is a compile error). The seed's own words for the
//! actions are kept: "Mã khai báo F0" (F0 declaration code), "Truy vết F1" (Trace F1), and on the
//! phone side "Chia sẻ lịch sử tiếp xúc" (Share contact history) and "Gửi ID và lịch sử tiếp xúc"
//! (Send ID and contact history).

use crate::domain::error::ErrorCode;
use crate::domain::store::{ConfirmationRecord, FollowUpStatus};

/// A console language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt, the default.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Parse a cookie or path value; anything else is `None`.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (the switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// The message table.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

/// Every message of the console, in one language.
#[allow(missing_docs)]
pub struct Texts {
    pub language_name: &'static str,
    pub app_title: &'static str,
    pub skip_to_content: &'static str,
    pub nav_cases: &'static str,
    pub nav_inbox: &'static str,
    pub nav_admin: &'static str,
    pub nav_password: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub switch_language: &'static str,

    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub login_button: &'static str,

    pub cases_title: &'static str,
    pub open_case_title: &'static str,
    pub reference_label: &'static str,
    pub reference_help: &'static str,
    pub open_case_button: &'static str,
    pub declaration_code: &'static str,
    pub code_help: &'static str,
    pub code_once: &'static str,
    pub code_expires: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub no_cases: &'static str,
    pub case_col: &'static str,
    pub reference_col: &'static str,
    pub opened_col: &'static str,
    pub status_col: &'static str,
    pub f1_count_col: &'static str,
    pub status_awaiting_upload: &'static str,
    pub status_upload_received: &'static str,
    pub status_trace_requested: &'static str,
    pub status_published: &'static str,
    pub open_link: &'static str,
    pub back_to_cases: &'static str,

    pub case_title: &'static str,
    pub trace_button: &'static str,
    pub trace_help: &'static str,
    pub trace_not_ready: &'static str,
    pub trace_done: &'static str,
    pub trace_already: &'static str,
    pub waiting_next_run: &'static str,
    pub waiting_on_demand: &'static str,
    pub published_to: &'static str,
    pub published_regions_at: &'static str,
    pub refresh: &'static str,
    pub regions_label: &'static str,
    pub regions_help: &'static str,
    pub whole_country: &'static str,
    pub f1_table_title: &'static str,
    pub no_col: &'static str,
    pub f1_id_col: &'static str,
    pub phone_col: &'static str,
    pub duration_col: &'static str,
    pub confirmation_col: &'static str,
    pub district_col: &'static str,
    pub confirmed_both_ways: &'static str,
    pub one_sided: &'static str,
    /// Heading of the F1 table's rows confirmed from both phones.
    pub both_ways_section: &'static str,
    /// Heading of the F1 table's one-sided rows, which a relayed beacon can also make.
    pub one_sided_section: &'static str,
    /// Said once above an F1 table whose rows all go to one unit (its name follows).
    pub phones_seen_by_unit: &'static str,
    /// Said once above an F1 table whose rows go to several units (a column names each row's).
    pub phones_seen_by_units: &'static str,
    pub unit_col: &'static str,
    pub no_unit_for_district: &'static str,
    pub first_contact_col: &'static str,
    pub last_contact_col: &'static str,
    pub closeness_col: &'static str,
    /// The four closeness classes, closest first (the risk rule's attenuation buckets).
    pub closeness: [&'static str; 4],
    pub legend_title: &'static str,
    pub legend_both_ways: &'static str,
    pub legend_one_sided: &'static str,
    pub legend_closeness: &'static str,
    pub no_f1: &'static str,
    pub minutes: &'static str,

    pub inbox_title: &'static str,
    pub inbox_help: &'static str,
    pub key_label: &'static str,
    pub key_help: &'static str,
    pub key_opened: &'static str,
    pub key_wrong_unit: &'static str,
    pub key_bad_format: &'static str,
    pub key_old_browser: &'static str,
    pub open_failed: &'static str,
    pub sealed_placeholder: &'static str,
    pub follow_up_col: &'static str,
    pub follow_up_new: &'static str,
    pub follow_up_contacted: &'static str,
    pub follow_up_quarantined: &'static str,
    pub follow_up_tested: &'static str,
    pub follow_up_closed: &'static str,
    pub save: &'static str,
    /// Said beside a row's follow-up once the server stored it.
    pub saved: &'static str,
    pub save_failed: &'static str,
    /// The copy button of an F1 ID, for screen readers (the shortened ID follows).
    pub copy_f1_id: &'static str,
    pub export_sealed_csv: &'static str,
    pub export_opened_csv: &'static str,
    pub no_rows: &'static str,

    pub admin_title: &'static str,
    pub accounts_title: &'static str,
    pub role_col: &'static str,
    pub created_col: &'static str,
    pub role_admin: &'static str,
    pub role_facility: &'static str,
    pub role_unit: &'static str,
    pub new_account_title: &'static str,
    pub unit_label: &'static str,
    pub unit_none: &'static str,
    pub scope_required: &'static str,
    pub role_oversight: &'static str,
    pub facility_label: &'static str,
    pub province_label: &'static str,
    pub facility_col: &'static str,
    pub must_change_notice: &'static str,
    pub create_account_button: &'static str,
    pub account_created: &'static str,
    pub disabled: &'static str,
    pub actions_col: &'static str,
    pub nav_audit: &'static str,
    pub audit_title: &'static str,
    pub audit_help: &'static str,
    pub audit_account: &'static str,
    pub audit_action: &'static str,
    pub audit_any_action: &'static str,
    pub audit_from: &'static str,
    pub audit_to: &'static str,
    pub audit_filter_button: &'static str,
    pub audit_time_col: &'static str,
    pub audit_client_col: &'static str,
    pub audit_object_col: &'static str,
    pub audit_none: &'static str,
    pub audit_older: &'static str,
    pub disable_button: &'static str,
    pub enable_button: &'static str,
    pub reset_button: &'static str,
    pub account_disabled: &'static str,
    pub account_enabled: &'static str,
    pub password_reset_notice: &'static str,
    pub units_title: &'static str,
    pub public_key_col: &'static str,
    pub new_unit_title: &'static str,
    pub unit_name: &'static str,
    pub unit_districts_help: &'static str,
    pub unit_key_help: &'static str,
    /// The rule of a new account's user name, stated beside the field.
    pub username_help: &'static str,
    /// The rule of a new unit's name, stated beside the field.
    pub unit_name_help: &'static str,
    pub register_unit_button: &'static str,
    pub unit_registered: &'static str,
    pub unit_districts_bad: &'static str,
    pub publish_title: &'static str,
    pub publish_help: &'static str,
    pub publish_button: &'static str,
    pub published_nothing: &'static str,
    pub published_batch: &'static str,

    pub password_title: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub new_password_help: &'static str,
    pub change_password_button: &'static str,
    pub current_password_wrong: &'static str,
    pub password_changed: &'static str,

    pub error_title: &'static str,
    pub csrf_failed: &'static str,
    pub page_not_found: &'static str,
    pub back_home: &'static str,
}

impl Texts {
    /// The status word of a case.
    pub fn case_status(&self, status: &str) -> &'static str {
        match status {
            "awaiting_upload" => self.status_awaiting_upload,
            "upload_received" => self.status_upload_received,
            "trace_requested" => self.status_trace_requested,
            _ => self.status_published,
        }
    }

    /// The word of a confirmation.
    pub fn confirmation(&self, c: ConfirmationRecord) -> &'static str {
        match c {
            ConfirmationRecord::ConfirmedBothWays => self.confirmed_both_ways,
            ConfirmationRecord::OneSided => self.one_sided,
        }
    }

    /// The word of a follow-up status.
    pub fn follow_up(&self, s: FollowUpStatus) -> &'static str {
        match s {
            FollowUpStatus::New => self.follow_up_new,
            FollowUpStatus::Contacted => self.follow_up_contacted,
            FollowUpStatus::Quarantined => self.follow_up_quarantined,
            FollowUpStatus::Tested => self.follow_up_tested,
            FollowUpStatus::Closed => self.follow_up_closed,
        }
    }

    /// What a health worker is told about an error, in this language.
    pub fn error(&self, code: ErrorCode) -> &'static str {
        let vi = std::ptr::eq(self, &VI);
        let pick = |v: &'static str, e: &'static str| if vi { v } else { e };
        match code {
            ErrorCode::BadRequest => pick(
                "Dữ liệu gửi lên không hợp lệ.",
                "What was sent is not valid.",
            ),
            ErrorCode::BodyTooLarge => {
                pick("Dữ liệu gửi lên quá lớn.", "What was sent is too large.")
            }
            ErrorCode::Timeout => pick(
                "Máy chủ trả lời quá chậm; hãy thử lại.",
                "The server took too long; try again.",
            ),
            ErrorCode::RouteNotFound | ErrorCode::NotFound => self.page_not_found,
            ErrorCode::MethodNotAllowed => pick(
                "Thao tác này không được phép ở đây.",
                "That action is not allowed here.",
            ),
            ErrorCode::Unauthenticated | ErrorCode::SessionInvalid => pick(
                "Phiên làm việc đã hết hạn; hãy đăng nhập lại.",
                "Your session has ended; log in again.",
            ),
            ErrorCode::ForbiddenRole | ErrorCode::ForbiddenDistrict => pick(
                "Tài khoản của bạn không có quyền xem trang này.",
                "Your account may not see this page.",
            ),
            ErrorCode::LoginFailed => pick(
                "Sai tên đăng nhập hoặc mật khẩu.",
                "Wrong user name or password.",
            ),
            ErrorCode::LoginThrottled => pick(
                "Đăng nhập sai quá nhiều lần; hãy chờ rồi thử lại.",
                "Too many failed logins; wait, then try again.",
            ),
            ErrorCode::PasswordRejected => pick(
                "Mật khẩu phải có ít nhất 12 ký tự; mật khẩu mới phải khác mật khẩu hiện tại.",
                "A password needs at least 12 characters; a new one must differ from the current one.",
            ),
            ErrorCode::PasswordChangeRequired => self.must_change_notice,
            ErrorCode::UnknownFacility => pick(
                "Cơ sở điều trị này không có trong cấu hình máy chủ.",
                "That treatment facility is not in the server's configuration.",
            ),
            ErrorCode::AccountExists => pick(
                "Tên đăng nhập này đã có; hãy chọn tên khác.",
                "That user name is taken; choose another.",
            ),
            ErrorCode::UnknownRegion => pick(
                "Hãy chọn ít nhất một tỉnh, thành phố trong danh sách.",
                "Choose at least one province from the list.",
            ),
            ErrorCode::UnknownUnit => pick(
                "Đơn vị này không có trong cấu hình máy chủ.",
                "That unit is not in the server's configuration.",
            ),
            ErrorCode::UnitInvalid => pick(
                "Tên đơn vị phải gồm 1 đến 64 ký tự a-z 0-9 -, khóa công khai gồm 64 ký tự hex.",
                "A unit's name is 1 to 64 characters of a-z 0-9 -, its public key 64 hex characters.",
            ),
            ErrorCode::UnitExists => pick(
                "Đã có đơn vị mang tên này; hãy chọn tên khác.",
                "A unit with that name exists; choose another.",
            ),
            ErrorCode::UnitDistrictTaken => pick(
                "Một quận/huyện trong danh sách đã thuộc đơn vị khác.",
                "One of those districts is already covered by another unit.",
            ),
            ErrorCode::CaseNotReady => pick(
                "Chưa thể truy vết: điện thoại của F0 chưa gửi ID và lịch sử tiếp xúc.",
                "Cannot trace yet: the F0's phone has not sent its ID and contact history.",
            ),
            ErrorCode::DeclarationCodeInvalid
            | ErrorCode::DeclarationCodeUsed
            | ErrorCode::DeclarationCodeExpired
            | ErrorCode::DeclarationCodeThrottled
            | ErrorCode::MalformedUpload
            | ErrorCode::UploadRejected
            | ErrorCode::MalformedReport
            | ErrorCode::ReportRejected
            | ErrorCode::ReportThrottled
            | ErrorCode::ReportDuplicate => pick(
                "Yêu cầu của điện thoại bị từ chối.",
                "The phone's request was refused.",
            ),
            ErrorCode::ServerBusy => pick(
                "Máy chủ đang quá tải; dữ liệu không bị thay đổi. Hãy thử lại sau ít phút.",
                "The server is overloaded; nothing was changed. Try again in a minute.",
            ),
            ErrorCode::StorageFailure | ErrorCode::Internal => pick(
                "Máy chủ gặp lỗi; dữ liệu không bị thay đổi. Hãy thử lại sau.",
                "The server failed; nothing was changed. Try again later.",
            ),
        }
    }
}

/// Vietnamese.
pub static VI: Texts = Texts {
    language_name: "Tiếng Việt",
    app_title: "Hệ thống Bluezone — truy vết F1",
    skip_to_content: "Bỏ qua, tới nội dung",
    nav_cases: "Ca F0",
    nav_inbox: "F1 cần theo dõi",
    nav_admin: "Quản trị",
    nav_password: "Đổi mật khẩu",
    logout: "Đăng xuất",
    signed_in_as: "Đang đăng nhập:",
    switch_language: "Chuyển ngôn ngữ",

    login_title: "Đăng nhập",
    username: "Tên đăng nhập",
    password: "Mật khẩu",
    login_button: "Đăng nhập",

    cases_title: "Ca bệnh F0",
    open_case_title: "Mở khai báo ca F0",
    reference_label: "Mã hồ sơ của cơ sở điều trị",
    reference_help: "Không bắt buộc; tối đa 64 ký tự. Không ghi tên hay số điện thoại người bệnh.",
    open_case_button: "Tạo mã khai báo F0",
    declaration_code: "Mã khai báo F0",
    code_help: "Cùng người bệnh F0 mở ứng dụng, chọn \u{201c}Chia sẻ lịch sử tiếp xúc\u{201d}, nhập mã này, rồi chọn \u{201c}Gửi ID và lịch sử tiếp xúc\u{201d}.",
    code_once: "Mã chỉ hiển thị một lần: hãy dùng ngay hoặc chép lại.",
    code_expires: "Hết hạn lúc",
    copy: "Sao chép",
    copied: "Đã sao chép",
    no_cases: "Chưa có ca nào.",
    case_col: "Ca",
    reference_col: "Mã hồ sơ",
    opened_col: "Mở lúc",
    status_col: "Trạng thái",
    f1_count_col: "Số F1",
    status_awaiting_upload: "Chờ điện thoại F0 gửi dữ liệu",
    status_upload_received: "Đã nhận ID và lịch sử tiếp xúc",
    status_trace_requested: "Đã yêu cầu truy vết, chờ công bố",
    status_published: "Đã gửi tới mọi ứng dụng",
    open_link: "Xem",
    back_to_cases: "Về danh sách ca",

    case_title: "Ca F0 số",
    trace_button: "Truy vết F1",
    trace_help: "Gửi dữ liệu của F0 tới mọi ứng dụng; các điện thoại đã tiếp xúc sẽ tự so khớp và báo về.",
    trace_not_ready: "Nút \u{201c}Truy vết F1\u{201d} dùng được khi điện thoại F0 đã gửi dữ liệu.",
    trace_done: "Đã yêu cầu truy vết.",
    trace_already: "Đã yêu cầu truy vết cho ca này.",
    waiting_next_run: "Đang chờ công bố; lần công bố tới lúc",
    waiting_on_demand: "Đang chờ công bố; quản trị viên công bố khi cần.",
    published_to: "Đã công bố tới",
    published_regions_at: "vùng lúc",
    refresh: "Tải lại",
    regions_label: "Công bố tới tỉnh, thành phố",
    regions_help: "Điện thoại ở các tỉnh, thành phố được chọn sẽ tải dữ liệu của F0. Chọn tỉnh, thành phố của cơ sở và những nơi F0 đã đến trong thời gian lây nhiễm (giữ Ctrl để chọn nhiều).",
    whole_country: "Toàn quốc",
    f1_table_title: "Bảng phân tích F1",
    no_col: "STT",
    f1_id_col: "ID F1",
    phone_col: "Số điện thoại",
    duration_col: "Thời lượng",
    confirmation_col: "Xác nhận",
    district_col: "Quận/huyện",
    confirmed_both_ways: "Hai chiều",
    one_sided: "Một chiều",
    both_ways_section: "Tiếp xúc xác nhận hai chiều",
    one_sided_section: "Tiếp xúc một chiều: chỉ điện thoại của F1 nghe thấy F0 (tín hiệu bị phát lại cũng cho kết quả như vậy; cần xác minh thêm)",
    phones_seen_by_unit: "Số điện thoại của các F1 này chỉ đơn vị y tế dự phòng sau xem được:",
    phones_seen_by_units: "Số điện thoại của mỗi F1 chỉ đơn vị y tế dự phòng ở cột \u{201c}Đơn vị\u{201d} xem được.",
    unit_col: "Đơn vị",
    first_contact_col: "Tiếp xúc đầu",
    last_contact_col: "Tiếp xúc cuối",
    closeness_col: "Mức độ gần",
    closeness: ["Rất gần", "Gần", "Hơi xa", "Xa"],
    legend_title: "Chú giải",
    legend_both_ways: "điện thoại của F0 và của F1 đều ghi nhận nhau: tiếp xúc chắc chắn.",
    legend_one_sided: "chỉ điện thoại của F1 ghi nhận F0; tín hiệu bị phát lại cũng cho kết quả như vậy, nên hãy hỏi lại F1 trước khi xử lý.",
    legend_closeness: "ước tính từ tín hiệu Bluetooth mạnh nhất giữa hai điện thoại (rất gần, gần, hơi xa, xa): tín hiệu càng mạnh, hai người càng ở gần nhau.",
    no_unit_for_district: "Không có đơn vị phụ trách",
    no_f1: "Chưa có F1 nào được xác minh.",
    minutes: "phút",

    inbox_title: "F1 cần theo dõi",
    inbox_help: "Số điện thoại được khóa lại, chỉ đơn vị xem được. Chọn tệp khóa của đơn vị để xem trên máy này; tệp khóa không bao giờ được gửi đi.",
    key_label: "Tệp khóa của đơn vị",
    key_help: "Tệp khóa (.key) mà quản trị viên đã giao cho đơn vị.",
    key_opened: "Đã mở số điện thoại:",
    key_wrong_unit: "Tệp khóa này không phải khóa của đơn vị.",
    key_bad_format: "Đây không phải tệp khóa; hãy chọn tệp .key mà quản trị viên đã giao cho đơn vị.",
    key_old_browser: "Trình duyệt này chưa mở được số điện thoại; hãy dùng Chrome, Edge hoặc Firefox bản mới, hoặc nhờ quản trị viên mở tệp CSV.",
    open_failed: "Không mở được",
    sealed_placeholder: "Đã mã hóa",
    follow_up_col: "Theo dõi",
    follow_up_new: "Mới",
    follow_up_contacted: "Đã liên hệ",
    follow_up_quarantined: "Đã cách ly",
    follow_up_tested: "Đã xét nghiệm",
    follow_up_closed: "Đã đóng",
    save: "Lưu",
    saved: "Đã lưu lúc",
    save_failed: "Chưa lưu được; hãy thử lại (nếu phiên đăng nhập đã hết, hãy tải lại trang).",
    copy_f1_id: "Sao chép ID F1",
    export_sealed_csv: "Xuất CSV (đã mã hóa)",
    export_opened_csv: "Tải CSV có số điện thoại",
    no_rows: "Chưa có F1 nào cho các quận/huyện của đơn vị.",

    admin_title: "Quản trị",
    accounts_title: "Tài khoản",
    role_col: "Vai trò",
    created_col: "Tạo lúc",
    role_admin: "Quản trị viên",
    role_facility: "Cơ sở điều trị",
    role_unit: "Đơn vị y tế dự phòng",
    new_account_title: "Tạo tài khoản",
    unit_label: "Đơn vị (cho đơn vị y tế dự phòng)",
    unit_none: "—",
    scope_required: "Tài khoản cơ sở điều trị cần chọn cơ sở, tài khoản đơn vị y tế dự phòng cần chọn đơn vị, tài khoản giám sát cần chọn tỉnh, thành phố; các vai trò khác không chọn.",
    role_oversight: "Giám sát (chỉ xem)",
    facility_label: "Cơ sở điều trị (cho tài khoản cơ sở điều trị)",
    province_label: "Tỉnh, thành phố (cho tài khoản giám sát)",
    facility_col: "Cơ sở điều trị",
    must_change_notice: "Mật khẩu này do người khác đặt. Hãy đổi mật khẩu trước khi tiếp tục.",
    create_account_button: "Tạo tài khoản",
    account_created: "Đã tạo tài khoản",
    disabled: "Đã khóa",
    actions_col: "Thao tác",
    nav_audit: "Nhật ký",
    audit_title: "Nhật ký hoạt động",
    audit_help: "Mỗi lần đăng nhập, mở ca, cấp mã, truy vết, công bố, xem hoặc xuất bảng F1, cập nhật theo dõi và thay đổi tài khoản được ghi lại; không thể sửa hay xóa.",
    audit_account: "Tài khoản",
    audit_action: "Hoạt động",
    audit_any_action: "Mọi hoạt động",
    audit_from: "Từ ngày",
    audit_to: "Đến hết ngày",
    audit_filter_button: "Lọc",
    audit_time_col: "Thời gian",
    audit_client_col: "Địa chỉ",
    audit_object_col: "Đối tượng",
    audit_none: "Không có mục nào.",
    audit_older: "Cũ hơn",
    disable_button: "Khóa",
    enable_button: "Mở khóa",
    reset_button: "Đặt lại mật khẩu",
    account_disabled: "Đã khóa tài khoản; mọi phiên đăng nhập của tài khoản đã kết thúc.",
    account_enabled: "Đã mở khóa tài khoản.",
    password_reset_notice: "Mật khẩu mới (chỉ hiển thị lần này; trao cho người dùng và yêu cầu đổi ngay) của",
    units_title: "Đơn vị y tế dự phòng",
    public_key_col: "Khóa công khai (X25519)",
    new_unit_title: "Đăng ký đơn vị y tế dự phòng",
    unit_name: "Tên đơn vị",
    unit_districts_help: "Mã các quận/huyện đơn vị phụ trách, cách nhau bằng dấu phẩy (ví dụ 1, 2, 3).",
    unit_key_help: "64 ký tự hex, do lệnh `bluezone unit keygen` in ra; khóa bí mật ở lại với đơn vị.",
    username_help: "1 đến 64 ký tự: chữ thường không dấu (a-z), chữ số, dấu chấm, gạch dưới hoặc gạch ngang; không có khoảng trắng. Ví dụ: bs.hung",
    unit_name_help: "1 đến 64 ký tự: chữ thường không dấu (a-z), chữ số hoặc gạch ngang. Ví dụ: cdc-hanoi",
    register_unit_button: "Đăng ký đơn vị",
    unit_registered: "Đã đăng ký đơn vị.",
    unit_districts_bad: "Danh sách quận/huyện phải là các số cách nhau bằng dấu phẩy.",
    publish_title: "Công bố",
    publish_help: "Máy chủ công bố theo lịch; nút này công bố ngay các ca đã yêu cầu truy vết.",
    publish_button: "Công bố ngay",
    published_nothing: "Không có ca nào chờ công bố.",
    published_batch: "Đã công bố lô số",

    password_title: "Đổi mật khẩu",
    current_password: "Mật khẩu hiện tại",
    new_password: "Mật khẩu mới",
    new_password_help: "Ít nhất 12 ký tự.",
    change_password_button: "Đổi mật khẩu",
    current_password_wrong: "Mật khẩu hiện tại không đúng.",
    password_changed: "Đã đổi mật khẩu.",

    error_title: "Lỗi",
    csrf_failed: "Biểu mẫu đã hết hạn hoặc không đến từ trang này; hãy gửi lại.",
    page_not_found: "Không tìm thấy trang hoặc mục này.",
    back_home: "Về trang chính",
};

/// English.
pub static EN: Texts = Texts {
    language_name: "English",
    app_title: "Bluezone System — F1 tracing",
    skip_to_content: "Skip to content",
    nav_cases: "F0 cases",
    nav_inbox: "F1 to follow up",
    nav_admin: "Administration",
    nav_password: "Change password",
    logout: "Log out",
    signed_in_as: "Signed in as",
    switch_language: "Switch language",

    login_title: "Log in",
    username: "User name",
    password: "Password",
    login_button: "Log in",

    cases_title: "F0 cases",
    open_case_title: "Open an F0 case declaration",
    reference_label: "Treatment facility's file reference",
    reference_help: "Optional; at most 64 characters. Do not write the patient's name or phone number.",
    open_case_button: "Create F0 declaration code",
    declaration_code: "F0 declaration code",
    code_help: "With the F0, open the App, choose \u{201c}Chia sẻ lịch sử tiếp xúc\u{201d} (Share contact history), enter this code, then choose \u{201c}Gửi ID và lịch sử tiếp xúc\u{201d} (Send ID and contact history).",
    code_once: "The code is shown only once: use it now or write it down.",
    code_expires: "Expires at",
    copy: "Copy",
    copied: "Copied",
    no_cases: "No cases yet.",
    case_col: "Case",
    reference_col: "Reference",
    opened_col: "Opened",
    status_col: "Status",
    f1_count_col: "F1 found",
    status_awaiting_upload: "Waiting for the F0's phone",
    status_upload_received: "ID and contact history received",
    status_trace_requested: "Trace requested, awaiting publication",
    status_published: "Sent to every App",
    open_link: "Open",
    back_to_cases: "Back to the cases",

    case_title: "F0 case no.",
    trace_button: "Trace F1",
    trace_help: "Sends the F0's data to every App; phones that were in contact match it themselves and report back.",
    trace_not_ready: "\u{201c}Trace F1\u{201d} becomes available once the F0's phone has sent its data.",
    trace_done: "Trace requested.",
    trace_already: "Tracing was requested for this case.",
    waiting_next_run: "Waiting for publication; the next run is at",
    waiting_on_demand: "Waiting for publication; an admin publishes on demand.",
    published_to: "Published to",
    published_regions_at: "region(s) at",
    refresh: "Refresh",
    regions_label: "Publish to provinces",
    regions_help: "Phones in the chosen provinces download the F0's data. Choose the facility's province and those the F0 visited while contagious (hold Ctrl to choose several).",
    whole_country: "Whole country",
    f1_table_title: "F1 analysis table",
    no_col: "No.",
    f1_id_col: "F1 ID",
    phone_col: "Phone number",
    duration_col: "Duration",
    confirmation_col: "Confirmation",
    district_col: "District",
    confirmed_both_ways: "Both ways",
    one_sided: "One-sided",
    both_ways_section: "Contacts confirmed both ways",
    one_sided_section: "One-sided contacts: only the F1's phone heard the F0 (a relayed beacon looks the same; check before acting)",
    phones_seen_by_unit: "Only this preventive-medicine unit can see these F1s' phone numbers:",
    phones_seen_by_units: "Only the preventive-medicine unit in the \u{201c}Unit\u{201d} column can see each F1's phone number.",
    unit_col: "Unit",
    first_contact_col: "First contact",
    last_contact_col: "Last contact",
    closeness_col: "Closeness",
    closeness: ["Very close", "Close", "Farther", "Far"],
    legend_title: "Legend",
    legend_both_ways: "the F0's phone and the F1's phone each recorded the other: the contact is certain.",
    legend_one_sided: "only the F1's phone recorded the F0; a relayed signal looks the same, so check with the F1 before acting.",
    legend_closeness: "estimated from the strongest Bluetooth signal between the two phones (very close, close, farther, far): the stronger the signal, the closer the two people were.",
    no_unit_for_district: "No unit covers it",
    no_f1: "No verified F1 yet.",
    minutes: "min",

    inbox_title: "F1 to follow up",
    inbox_help: "Phone numbers are locked so that only the unit can see them. Choose the unit's key file to see them on this computer; the key file is never sent anywhere.",
    key_label: "Unit key file",
    key_help: "The key file (.key) the administrator gave the unit.",
    key_opened: "Phone numbers opened:",
    key_wrong_unit: "This key file is not the unit's key.",
    key_bad_format: "This is not a key file; choose the .key file the administrator gave the unit.",
    key_old_browser: "This browser cannot open the phone numbers; use a recent Chrome, Edge or Firefox, or ask the administrator to open the CSV file.",
    open_failed: "Cannot open",
    sealed_placeholder: "Sealed",
    follow_up_col: "Follow-up",
    follow_up_new: "New",
    follow_up_contacted: "Contacted",
    follow_up_quarantined: "Quarantined",
    follow_up_tested: "Tested",
    follow_up_closed: "Closed",
    save: "Save",
    saved: "Saved at",
    save_failed: "Not saved; try again (if your session has ended, reload the page).",
    copy_f1_id: "Copy F1 ID",
    export_sealed_csv: "Export CSV (sealed)",
    export_opened_csv: "Download CSV with phone numbers",
    no_rows: "No F1 yet in the unit's districts.",

    admin_title: "Administration",
    accounts_title: "Accounts",
    role_col: "Role",
    created_col: "Created",
    role_admin: "Administrator",
    role_facility: "Treatment facility",
    role_unit: "Preventive-medicine unit",
    new_account_title: "New account",
    unit_label: "Unit (for a preventive-medicine unit)",
    unit_none: "—",
    scope_required: "A treatment-facility account needs a facility, a preventive-medicine unit account a unit, an oversight account a province; the other roles none.",
    role_oversight: "Oversight (read only)",
    facility_label: "Treatment facility (for a treatment-facility account)",
    province_label: "Province (for an oversight account)",
    facility_col: "Treatment facility",
    must_change_notice: "Someone else set this password. Change it before you go on.",
    create_account_button: "Create account",
    account_created: "Account created",
    disabled: "Disabled",
    actions_col: "Actions",
    nav_audit: "Audit log",
    audit_title: "Audit log",
    audit_help: "Every login, case opened, code issued, trace, publication run, F1 table read or exported, follow-up and account change is recorded; entries cannot be changed or removed.",
    audit_account: "Account",
    audit_action: "Action",
    audit_any_action: "Any action",
    audit_from: "From",
    audit_to: "To the end of",
    audit_filter_button: "Filter",
    audit_time_col: "Time",
    audit_client_col: "Address",
    audit_object_col: "Object",
    audit_none: "No entries.",
    audit_older: "Older",
    disable_button: "Disable",
    enable_button: "Enable",
    reset_button: "Reset password",
    account_disabled: "Account disabled; all its sessions have ended.",
    account_enabled: "Account enabled.",
    password_reset_notice: "New password (shown this once; give it to its owner, who should change it at once) of",
    units_title: "Preventive-medicine units",
    public_key_col: "Public key (X25519)",
    new_unit_title: "Register a preventive-medicine unit",
    unit_name: "Unit name",
    unit_districts_help: "The numbers of the districts it covers, separated by commas (e.g. 1, 2, 3).",
    unit_key_help: "64 hex characters, as `bluezone unit keygen` prints them; the private key stays with the unit.",
    username_help: "1 to 64 characters: lowercase letters a-z without accents, digits, dot, underscore or hyphen; no spaces. Example: dr.hung",
    unit_name_help: "1 to 64 characters: lowercase letters a-z without accents, digits or hyphens. Example: cdc-hanoi",
    register_unit_button: "Register the unit",
    unit_registered: "Unit registered.",
    unit_districts_bad: "Districts are numbers separated by commas.",
    publish_title: "Publication",
    publish_help: "The server publishes on a schedule; this button publishes the traced cases now.",
    publish_button: "Publish now",
    published_nothing: "No case is waiting for publication.",
    published_batch: "Published batch",

    password_title: "Change password",
    current_password: "Current password",
    new_password: "New password",
    new_password_help: "At least 12 characters.",
    change_password_button: "Change password",
    current_password_wrong: "The current password is wrong.",
    password_changed: "Password changed.",

    error_title: "Error",
    csrf_failed: "The form expired or did not come from this page; send it again.",
    page_not_found: "No such page or item.",
    back_home: "Back to the start page",
};
