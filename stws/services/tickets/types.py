"""The 28 result and data types of svcTickets.asmx, fields in wire order.

Copied from SmarterTrack's contract (research/smartertrack-api.md §2.2):
alphabetical order except fields added in later versions and appended
(``TimeLogInfo.IsDeleted``, ``TicketPartInfo.IsDraft``). Do not reorder.
"""
from __future__ import annotations

from stws.soap.types import (
    Bool, Int, Long, String, TypeFactory, When, service_namespace,
)

SERVICE_NAME = "svcTickets"
T = TypeFactory(service_namespace(SERVICE_NAME))
TRIO = [("Message", String), ("Result", Bool), ("ResultCode", Int)]

GenericResult = T.GenericResult
StringRequestResult = T.StringRequestResult
IntRequestResult = T.IntRequestResult
SettingsRequestResult = T.SettingsRequestResult

TicketCommentInfo = T.complex("TicketCommentInfo", [
    ("CommentId", Int), ("CommentText", String), ("CommentType", String), ("DateEnteredUTC", When),
    ("TicketId", Int), ("UserId", Int),
])
TicketCommentInfoResult = T.result("TicketCommentInfoResult", Comment=T.payload(TicketCommentInfo))

TicketInfo = T.complex("TicketInfo", [
    ("CustomerEmailAddress", String), ("ID", Int), ("IdAgent", Int), ("IdCustomer", Int), ("IdDepartment", Int),
    ("IdGroup", Int), ("IsActive", Bool), ("IsDeleted", Bool), ("IsOpen", Bool), ("IsPinnedToAgent", Bool),
    ("IsSpam", Bool), ("LastReplyDateUtc", When), ("Priority", Int), ("ReplyCountIn", Int),
    ("ReplyCountOut", Int), ("RequiresFollowUp", Bool), ("ShowInFollowUpView", Bool), ("Subject", String),
    ("TicketNumber", String),
])
TicketInfoArrayResult = T.result("TicketInfoArrayResult", Tickets=T.array_of(TicketInfo))
TicketInfoResult = T.result("TicketInfoResult", Ticket=T.payload(TicketInfo))

TimeLogInfo = T.complex("TimeLogInfo", [
    ("AgentID", Int), ("CallLogID", Int), ("CategoryName", String), ("ChatID", Int), ("DateEndUTC", When),
    ("DateStartUTC", When), ("Description", String), ("ID", Int), ("IsBillable", Bool), ("Subject", String),
    ("TicketID", Int), ("TimeLogCategoryID", Int), ("IsDeleted", Bool),
])
TimeLogInfoResult = T.result("TimeLogInfoResult", TimeLog=T.payload(TimeLogInfo))
TimeLogInfoArrayResult = T.result("TimeLogInfoArrayResult", TimeLogs=T.array_of(TimeLogInfo))

TicketEventInfo = T.complex("TicketEventInfo", [
    ("Description", String), ("Details", String), ("EventDateUtc", When), ("UserTakingAction", String),
])
TicketEventInfoArrayResult = T.result("TicketEventInfoArrayResult", Events=T.array_of(TicketEventInfo))

TicketMessageBodyResult = T.result("TicketMessageBodyResult", messageBody=String)

TicketPartInfo = T.complex("TicketPartInfo", [
    ("CreationDateUtc", When), ("Description", String), ("Direction", Int), ("PartId", Long),
    ("Recipient", String), ("Sender", String), ("Type", Int), ("IsDraft", Bool),
])
TicketPartInfoArrayResult = T.result("TicketPartInfoArrayResult", Parts=T.array_of(TicketPartInfo))
TicketPartInfoResult = T.result("TicketPartInfoResult", Part=T.payload(TicketPartInfo))

TicketCountInfo = T.complex("TicketCountInfo", [
    ("ActiveTicketCount", Int), ("BrandId", Int), ("DepartmentId", Int), ("FollowUpTicketCount", Int),
    ("GroupId", Int), ("UserId", Int), ("WaitingTicketCount", Int),
])
TicketCountInfoArrayResult = T.result("TicketCountInfoArrayResult", TicketCounts=T.array_of(TicketCountInfo))

CustomFieldInfo = T.complex("CustomFieldInfo", [
    ("CustomFieldId", Int), ("CustomTemplateId", Int), ("DisplayName", String), ("IsRequiredByAgents", Bool),
    ("IsRequiredByAgentsToClose", Bool), ("IsRequiredByUsers", Bool), ("IsVisibleToAgents", Bool),
    ("IsVisibleToUsers", Bool), ("SortOrder", Int),
])
CustomFieldInfoArrayResult = T.result("CustomFieldInfoArrayResult", CustomFields=T.array_of(CustomFieldInfo))

TicketAttachmentInfo = T.complex("TicketAttachmentInfo", [
    ("downloadUrl", String), ("fileDateUtc", When), ("fileId", Int), ("fileNameOnDisk", String),
    ("fileNameOriginal", String), ("fileSizeInBytes", Long), ("sender", String), ("senderUserId", Int),
    ("ticketMessageId", Long),
])
TicketAttachmentInfoResult = T.result("TicketAttachmentInfoResult", File=T.payload(TicketAttachmentInfo))
TicketAttachmentInfoArrayResult = T.result("TicketAttachmentInfoArrayResult", Files=T.array_of(TicketAttachmentInfo))

ReceivingStatusInfo = T.complex("ReceivingStatusInfo", [
    ("DepartmentId", Int), ("DepartmentName", String), ("GroupId", Int), ("GroupName", String),
    ("IsReceiving", Bool),
])
ArrayOfReceivingStatusInfo = T.array_of(ReceivingStatusInfo)
ReceivingStatusInfoArrayResult = T.result("ReceivingStatusInfoArrayResult",
                                          ReceivingStatus=ArrayOfReceivingStatusInfo)

IsAvailableResult = T.complex("IsAvailableResult", [("IsAvailable", Bool)])

# The 56 operations in the order of the reference WSDL (the served WSDL and
# the generated proxies list them in this order).
OPERATIONS = (
    "AddRelatedItem", "GetTicketNote", "AddTicketNote", "AddTicketNoteHtml", "AddTicketNoteHtmlWithDate",
    "EditTicketNote", "GetTicketsBySearch", "AddTicketTimeLog", "GetTicketTimeLog", "GetTicketTimeLogs",
    "GetTicketInfo", "GetTicketInfoByTicketNumber", "GetTicketEventHistory", "GetTicketMessagePlainText",
    "GetTicketMessageHtml", "GetTicketConversationPartList", "CreateTicketFromCustomer",
    "CreateTicketFromCustomerWithDate", "CreateTicket", "CreateTicketWithDate", "DeleteTicket",
    "AddMessageToTicket", "AddMessageToTicketFromUser", "AddMessageToTicketWithDate",
    "AddMessageToTicketWithDateFromUser", "GetTicketCounts_Agent", "GetTicketCounts_Global", "GetTicketCount",
    "GetGroupTicketInfo", "CloseTicket", "GetTicketStatus", "SetFollowUp", "RemoveFollowUp",
    "GetCustomFieldControls", "GetTicketCustomFieldsList", "GetTicketCustomFields", "SetTicketCustomFields",
    "GetTicketPropertiesList", "GetTicketProperties", "SetTicketProperties", "TransferTicket",
    "TransferTicketToInstance", "GetTicketURL", "AppendToTicketAttachment", "AddTicketAttachment",
    "GetTicketAttachments", "HandOffActiveTickets", "HandOffActiveTicketsAsAdmin", "SetAgentReceivingStatus",
    "SetAgentReceivingStatusAsAdmin", "GetAgentReceivingStatus", "GetAgentReceivingStatusAsAdmin",
    "SetAgentReceivingStatusForAllGroups", "SetAgentReceivingStatusForAllGroupsAsAdmin", "PingService",
    "GetAgentsSignature",
)
