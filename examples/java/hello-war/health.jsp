<%@ page contentType="application/json; charset=UTF-8" pageEncoding="UTF-8" session="false"
         trimDirectiveWhitespaces="true" %>
<%@ include file="/WEB-INF/jspf/version.jspf" %>
<%--
  Health check for monitoring and for deploy-java.sh, served at /health (see WEB-INF/web.xml)
  and at /health.jsp: 200 {"status":"ok","version":"VERSION"}.
  The JSON starts right after the scriptlet; the comment at its end keeps the final line break
  out of the body. The version needs no JSON escaping: build.sh accepts only [0-9A-Za-z._+-].
--%>
<% String version = appVersion(application); %>{"status":"ok","version":"<%= version %>"}<%-- end --%>
