<%@ page contentType="text/plain; charset=UTF-8" pageEncoding="UTF-8" session="false"
         trimDirectiveWhitespaces="true" %>
<%@ include file="/WEB-INF/jspf/version.jspf" %>
<%--
  The home page: one line, "hello-war VERSION".
  trimDirectiveWhitespaces drops the text made only of blanks and line breaks between the tags,
  so the body starts right after the scriptlet below; the "\n" expression ends the line.
  session="false": a page that needs no session does not create one (no cookie, no memory used).
--%>
<% String version = appVersion(application); %>hello-war <%= version %><%= "\n" %>
