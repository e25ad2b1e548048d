var ce,x,qe,jt,R,Le,Oe,Re,ye,oe,Y,Ue,be,ge,ve,Mt,ae={},ie=[],Nt=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,ue=Array.isArray;function q(t,e){for(var n in e)t[n]=e[n];return t}function ke(t){t&&t.parentNode&&t.parentNode.removeChild(t)}function xe(t,e,n){var o,r,s,l={};for(s in e)s=="key"?o=e[s]:s=="ref"?r=e[s]:l[s]=e[s];if(arguments.length>2&&(l.children=arguments.length>3?ce.call(arguments,2):n),typeof t=="function"&&t.defaultProps!=null)for(s in t.defaultProps)l[s]===void 0&&(l[s]=t.defaultProps[s]);return se(t,l,o,r,null)}function se(t,e,n,o,r){var s={type:t,props:e,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:r??++qe,__i:-1,__u:0};return r==null&&x.vnode!=null&&x.vnode(s),s}function de(t){return t.children}function re(t,e){this.props=t,this.context=e}function B(t,e){if(e==null)return t.__?B(t.__,t.__i+1):null;for(var n;e<t.__k.length;e++)if((n=t.__k[e])!=null&&n.__e!=null)return n.__e;return typeof t.type=="function"?B(t):null}function Dt(t){if(t.__P&&t.__d){var e=t.__v,n=e.__e,o=[],r=[],s=q({},e);s.__v=e.__v+1,x.vnode&&x.vnode(s),we(t.__P,s,e,t.__n,t.__P.namespaceURI,32&e.__u?[n]:null,o,n??B(e),!!(32&e.__u),r),s.__v=e.__v,s.__.__k[s.__i]=s,Fe(o,s,r),e.__e=e.__=null,s.__e!=n&&He(s)}}function He(t){if((t=t.__)!=null&&t.__c!=null)return t.__e=t.__c.base=null,t.__k.some(function(e){if(e!=null&&e.__e!=null)return t.__e=t.__c.base=e.__e}),He(t)}function Pe(t){(!t.__d&&(t.__d=!0)&&R.push(t)&&!le.__r++||Le!=x.debounceRendering)&&((Le=x.debounceRendering)||Oe)(le)}function le(){try{for(var t,e=1;R.length;)R.length>e&&R.sort(Re),t=R.shift(),e=R.length,Dt(t)}finally{R.length=le.__r=0}}function Be(t,e,n,o,r,s,l,c,d,i,p){var _,a,m,$,b,h,v=o&&o.__k||ie,g=e.length;for(d=It(n,e,v,d,g),_=0;_<g;_++)(m=n.__k[_])!=null&&(a=m.__i!=-1&&v[m.__i]||ae,m.__i=_,h=we(t,m,a,r,s,l,c,d,i,p),$=m.__e,m.ref&&a.ref!=m.ref&&(a.ref&&Se(a.ref,null,m),p.push(m.ref,m.__c||$,m)),b==null&&$!=null&&(b=$),4&m.__u?(d=We(m,d,t),a.__e&&(a.__e=null)):typeof m.type=="function"&&h!==void 0?d=h:$&&(d=$.nextSibling),m.__u&=-7);return n.__e=b,d}function It(t,e,n,o,r){var s,l,c,d,i,p=n.length,_=p,a=0;for(t.__k=new Array(r),s=0;s<r;s++)(l=e[s])!=null&&typeof l!="boolean"&&typeof l!="function"?(typeof l=="string"||typeof l=="number"||typeof l=="bigint"||l.constructor==String?l=t.__k[s]=se(null,l,null,null,null):ue(l)?l=t.__k[s]=se(de,{children:l},null,null,null):l.constructor===void 0&&l.__b>0?l=t.__k[s]=se(l.type,l.props,l.key,l.ref?l.ref:null,l.__v):t.__k[s]=l,d=s+a,l.__=t,l.__b=t.__b+1,c=null,(i=l.__i=Lt(l,n,d,_))!=-1&&(_--,(c=n[i])&&(c.__u|=2)),c==null||c.__v==null?(i==-1&&(r>p?a--:r<p&&a++),typeof l.type!="function"&&(l.__u|=4)):i!=d&&(i==d-1?a--:i==d+1?a++:(i>d?a--:a++,l.__u|=4))):t.__k[s]=null;if(_)for(s=0;s<p;s++)(c=n[s])!=null&&(2&c.__u)==0&&(c.__e==o&&(o=B(c)),ze(c,c));return o}function We(t,e,n){var o,r;if(typeof t.type=="function"){for(o=t.__k,r=0;o&&r<o.length;r++)o[r]&&(o[r].__=t,e=We(o[r],e,n));return e}t.__e!=e&&(e&&t.type&&!e.parentNode&&(e=B(t)),e=n.insertBefore(t.__e,e||null));do e=e&&e.nextSibling;while(e!=null&&e.nodeType==8);return e}function Lt(t,e,n,o){var r,s,l,c=t.key,d=t.type,i=e[n],p=i!=null&&(2&i.__u)==0;if(i===null&&c==null||p&&c==i.key&&d==i.type)return n;if(o>(p?1:0)){for(r=n-1,s=n+1;r>=0||s<e.length;)if((i=e[l=r>=0?r--:s++])!=null&&(2&i.__u)==0&&c==i.key&&d==i.type)return l}return-1}function Ke(t,e,n){e[0]=="-"?t.setProperty(e,n??""):t[e]=n==null?"":typeof n!="number"||Nt.test(e)?n:n+"px"}function ne(t,e,n,o,r){var s,l;e:if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof o=="string"&&(t.style.cssText=o=""),o)for(e in o)n&&e in n||Ke(t.style,e,"");if(n)for(e in n)o&&n[e]==o[e]||Ke(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")s=e!=(e=e.replace(Ue,"$1")),l=e.toLowerCase(),e=l in t||e=="onFocusOut"||e=="onFocusIn"?l.slice(2):e.slice(2),t.l||(t.l={}),t.l[e+s]=n,n?o?n[Y]=o[Y]:(n[Y]=be,t.addEventListener(e,s?ve:ge,s)):t.removeEventListener(e,s?ve:ge,s);else{if(r=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{t[e]=n??"";break e}catch{}typeof n=="function"||(n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n))}}function Ae(t){return function(e){if(this.l){var n=this.l[e.type+t];if(e[oe]==null)e[oe]=be++;else if(e[oe]<n[Y])return;return n(x.event?x.event(e):e)}}}function we(t,e,n,o,r,s,l,c,d,i){var p,_,a,m,$,b,h,v,g,N,w,f,D,$e,k,F,A=e.type;if(e.constructor!==void 0)return null;128&n.__u&&(d=!!(32&n.__u),s=[c=e.__e=n.__e]),(p=x.__b)&&p(e);e:if(typeof A=="function"){_=l.length;try{if(g=e.props,N=A.prototype&&A.prototype.render,w=(p=A.contextType)&&o[p.__c],f=p?w?w.props.value:p.__:o,n.__c?v=(a=e.__c=n.__c).__=a.__E:(N?e.__c=a=new A(g,f):(e.__c=a=new re(g,f),a.constructor=A,a.render=Kt),w&&w.sub(a),a.state||(a.state={}),a.__n=o,m=a.__d=!0,a.__h=[],a._sb=[]),N&&a.__s==null&&(a.__s=a.state),N&&A.getDerivedStateFromProps!=null&&(a.__s==a.state&&(a.__s=q({},a.__s)),q(a.__s,A.getDerivedStateFromProps(g,a.__s))),$=a.props,b=a.state,a.__v=e,m)N&&A.getDerivedStateFromProps==null&&a.componentWillMount!=null&&a.componentWillMount(),N&&a.componentDidMount!=null&&a.__h.push(a.componentDidMount);else{if(N&&A.getDerivedStateFromProps==null&&g!==$&&a.componentWillReceiveProps!=null&&a.componentWillReceiveProps(g,f),e.__v==n.__v||!a.__e&&a.shouldComponentUpdate!=null&&a.shouldComponentUpdate(g,a.__s,f)===!1){e.__v!=n.__v&&(a.props=g,a.state=a.__s,a.__d=!1),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(V){V&&(V.__=e)}),ie.push.apply(a.__h,a._sb),a._sb=[],a.__h.length&&l.push(a),c=B(n);break e}a.componentWillUpdate!=null&&a.componentWillUpdate(g,a.__s,f),N&&a.componentDidUpdate!=null&&a.__h.push(function(){a.componentDidUpdate($,b,h)})}if(a.context=f,a.props=g,a.__P=t,a.__e=!1,D=x.__r,$e=0,N)a.state=a.__s,a.__d=!1,D&&D(e),p=a.render(a.props,a.state,a.context),ie.push.apply(a.__h,a._sb),a._sb=[];else do a.__d=!1,D&&D(e),p=a.render(a.props,a.state,a.context),a.state=a.__s;while(a.__d&&++$e<25);a.state=a.__s,a.getChildContext!=null&&(o=q(q({},o),a.getChildContext())),N&&!m&&a.getSnapshotBeforeUpdate!=null&&(h=a.getSnapshotBeforeUpdate($,b)),k=p!=null&&p.type===de&&p.key==null?Ve(p.props.children):p,c=Be(t,ue(k)?k:[k],e,n,o,r,s,l,c,d,i),a.base=e.__e,e.__u&=-161,a.__h.length&&l.push(a),v&&(a.__E=a.__=null)}catch(V){if(l.length=_,e.__v=null,d||s!=null){if(V.then){for(e.__u|=d?160:128;c&&c.nodeType==8&&c.nextSibling;)c=c.nextSibling;s!=null&&(s[s.indexOf(c)]=null),e.__e=c}else if(s!=null)for(F=s.length;F--;)ke(s[F])}else e.__e=n.__e;e.__k==null&&(e.__k=n.__k||[]),V.then||Je(e),x.__e(V,e,n)}}else s==null&&e.__v==n.__v?(e.__k=n.__k,e.__e=n.__e):c=e.__e=Pt(n.__e,e,n,o,r,s,l,d,i);return(p=x.diffed)&&p(e),128&e.__u?void 0:c}function Je(t){t&&(t.__c&&(t.__c.__e=!0),t.__k&&t.__k.some(Je))}function Fe(t,e,n){for(var o=0;o<n.length;o++)Se(n[o],n[++o],n[++o]);x.__c&&x.__c(e,t),t.some(function(r){try{t=r.__h,r.__h=[],t.some(function(s){s.call(r)})}catch(s){x.__e(s,r.__v)}})}function Ve(t){return typeof t!="object"||t==null||t.__b>0?t:ue(t)?t.map(Ve):t.constructor!==void 0?null:q({},t)}function Pt(t,e,n,o,r,s,l,c,d){var i,p,_,a,m,$,b,h=n.props||ae,v=e.props,g=e.type;if(g=="svg"?r="http://www.w3.org/2000/svg":g=="math"?r="http://www.w3.org/1998/Math/MathML":r||(r="http://www.w3.org/1999/xhtml"),s!=null){for(i=0;i<s.length;i++)if((m=s[i])&&"setAttribute"in m==!!g&&(g?m.localName==g:m.nodeType==3)){t=m,s[i]=null;break}}if(t==null){if(g==null)return document.createTextNode(v);t=document.createElementNS(r,g,v.is&&v),c&&(x.__m&&x.__m(e,s),c=!1),s=null}if(g==null)h===v||c&&t.data==v||(t.data=v);else{if(s=g=="textarea"&&v.defaultValue!=null?null:s&&ce.call(t.childNodes),!c&&s!=null)for(h={},i=0;i<t.attributes.length;i++)h[(m=t.attributes[i]).name]=m.value;for(i in h)m=h[i],i=="dangerouslySetInnerHTML"?_=m:i=="children"||i in v||i=="value"&&"defaultValue"in v||i=="checked"&&"defaultChecked"in v||ne(t,i,null,m,r);for(i in v)m=v[i],i=="children"?a=m:i=="dangerouslySetInnerHTML"?p=m:i=="value"?$=m:i=="checked"?b=m:c&&typeof m!="function"||h[i]===m||ne(t,i,m,h[i],r);if(p)c||_&&(p.__html==_.__html||p.__html==t.innerHTML)||(t.innerHTML=p.__html),e.__k=[];else if(_&&(t.innerHTML=""),Be(e.type=="template"?t.content:t,ue(a)?a:[a],e,n,o,g=="foreignObject"?"http://www.w3.org/1999/xhtml":r,s,l,s?s[0]:n.__k&&B(n,0),c,d),s!=null)for(i=s.length;i--;)ke(s[i]);c&&g!="textarea"||(i="value",g=="progress"&&$==null?t.removeAttribute("value"):$!=null&&($!==t[i]||g=="progress"&&!$||g=="option"&&$!=h[i])&&ne(t,i,$,h[i],r),i="checked",b!=null&&b!=t[i]&&ne(t,i,b,h[i],r))}return t}function Se(t,e,n){try{if(typeof t=="function"){var o=typeof t.__u=="function";o&&t.__u(),o&&e==null||(t.__u=t(e))}else t.current=e}catch(r){x.__e(r,n)}}function ze(t,e,n){var o,r;if(x.unmount&&x.unmount(t),(o=t.ref)&&(o.current&&o.current!=t.__e||Se(o,null,e)),(o=t.__c)!=null){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(s){x.__e(s,e)}o.base=o.__P=o.__n=null}if(o=t.__k)for(r=0;r<o.length;r++)o[r]&&ze(o[r],e,n||typeof t.type!="function");n||ke(t.__e),t.__c=t.__=t.__e=void 0}function Kt(t,e,n){return this.constructor(t,n)}function Ge(t,e,n){var o,r,s,l;e==document&&(e=document.documentElement),x.__&&x.__(t,e),r=(o=typeof n=="function")?null:n&&n.__k||e.__k,s=[],l=[],we(e,t=(!o&&n||e).__k=xe(de,null,[t]),r||ae,ae,e.namespaceURI,!o&&n?[n]:r?null:e.firstChild?ce.call(e.childNodes):null,s,!o&&n?n:r?r.__e:e.firstChild,o,l),Fe(s,t,l),t.props.children=null}ce=ie.slice,x={__e:function(t,e,n,o){for(var r,s,l;e=e.__;)if((r=e.__c)&&!r.__)try{if((s=r.constructor)&&s.getDerivedStateFromError!=null&&(r.setState(s.getDerivedStateFromError(t)),l=r.__d),r.componentDidCatch!=null&&(r.componentDidCatch(t,o||{}),l=r.__d),l)return r.__E=r}catch(c){t=c}throw t}},qe=0,jt=function(t){return t!=null&&t.constructor===void 0},re.prototype.setState=function(t,e){var n;n=this.__s!=null&&this.__s!=this.state?this.__s:this.__s=q({},this.state),typeof t=="function"&&(t=t(q({},n),this.props)),t&&q(n,t),t!=null&&this.__v&&(e&&this._sb.push(e),Pe(this))},re.prototype.forceUpdate=function(t){this.__v&&(this.__e=!0,t&&this.__h.push(t),Pe(this))},re.prototype.render=de,R=[],Oe=typeof Promise=="function"?Promise.prototype.then.bind(Promise.resolve()):setTimeout,Re=function(t,e){return t.__v.__b-e.__v.__b},le.__r=0,ye=Math.random().toString(8),oe="__d"+ye,Y="__a"+ye,Ue=/(PointerCapture)$|Capture$/i,be=0,ge=Ae(!1),ve=Ae(!0),Mt=0;var ee,T,Ce,Ze,pe=0,st=[],M=x,Qe=M.__b,Xe=M.__r,Ye=M.diffed,et=M.__c,tt=M.unmount,nt=M.__;function Ee(t,e){M.__h&&M.__h(T,t,pe||e),pe=0;var n=T.__H||(T.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function y(t){return pe=1,At(it,t)}function At(t,e,n){var o=Ee(ee++,2);if(o.t=t,!o.__c&&(o.__=[n?n(e):it(void 0,e),function(c){var d=o.__N?o.__N[0]:o.__[0],i=o.t(d,c);d!==i&&(o.__N=[i,o.__[1]],o.__c.setState({}))}],o.__c=T,!T.__f)){var r=function(c,d,i){if(!o.__c.__H)return!0;var p=!1,_=o.__c.props!==c;if(o.__c.__H.__.some(function(m){if(m.__N){p=!0;var $=m.__[0];m.__=m.__N,m.__N=void 0,$!==m.__[0]&&(_=!0)}}),s){var a=s.call(this,c,d,i);return p?a||_:a}return!p||_};T.__f=!0;var s=T.shouldComponentUpdate,l=T.componentWillUpdate;T.componentWillUpdate=function(c,d,i){if(this.__e){var p=s;s=void 0,r(c,d,i),s=p}l&&l.call(this,c,d,i)},T.shouldComponentUpdate=r}return o.__N||o.__}function z(t,e){var n=Ee(ee++,3);!M.__s&&at(n.__H,e)&&(n.__=t,n.u=e,T.__H.__h.push(n))}function rt(t){return pe=5,qt(function(){return{current:t}},[])}function qt(t,e){var n=Ee(ee++,7);return at(n.__H,e)&&(n.__=t(),n.__H=e,n.__h=t),n.__}function Ot(){for(var t;t=st.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(_e),e.__h.some(Te),e.__h=[]}catch(n){e.__h=[],M.__e(n,t.__v)}}}M.__b=function(t){T=null,Qe&&Qe(t)},M.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),nt&&nt(t,e)},M.__r=function(t){Xe&&Xe(t),ee=0;var e=(T=t.__c).__H;e&&(Ce===T?(e.__h=[],T.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})):(e.__h.some(_e),e.__h.some(Te),e.__h=[],ee=0)),Ce=T},M.diffed=function(t){Ye&&Ye(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&(st.push(e)!==1&&Ze===M.requestAnimationFrame||((Ze=M.requestAnimationFrame)||Rt)(Ot)),e.__H.__.some(function(n){n.u&&(n.__H=n.u,n.u=void 0)})),Ce=T=null},M.__c=function(t,e){e.some(function(n){try{n.__h.some(_e),n.__h=n.__h.filter(function(o){return!o.__||Te(o)})}catch(o){e.some(function(r){r.__h&&(r.__h=[])}),e=[],M.__e(o,n.__v)}}),et&&et(t,e)},M.unmount=function(t){tt&&tt(t);var e,n=t.__c;n&&n.__H&&(n.__H.__.some(function(o){try{_e(o)}catch(r){e=r}}),n.__H=void 0,e&&M.__e(e,n.__v))};var ot=typeof requestAnimationFrame=="function";function Rt(t){var e,n=function(){clearTimeout(o),ot&&cancelAnimationFrame(e),setTimeout(t)},o=setTimeout(n,35);ot&&(e=requestAnimationFrame(n))}function _e(t){var e=T,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),T=e}function Te(t){var e=T;t.__c=t.__(),T=e}function at(t,e){return!t||t.length!==e.length||e.some(function(n,o){return n!==t[o]})}function it(t,e){return typeof e=="function"?e(t):e}var je="keymgr.token",U={token:()=>sessionStorage.getItem(je),set:t=>sessionStorage.setItem(je,t),clear:()=>sessionStorage.removeItem(je)},G=class extends Error{constructor(e,n,o){super(o||n||`HTTP ${e}`),this.status=e,this.code=n||""}};async function lt(t,e,n,o){let r={Accept:o||"application/json"},s=U.token();s&&(r.Authorization="Bearer "+s);let l={method:t,headers:r,cache:"no-store",credentials:"omit",referrerPolicy:"no-referrer"};n!==void 0&&(r["Content-Type"]="application/json",l.body=JSON.stringify(n));let c;try{c=await fetch(e,l)}catch(i){throw new G(0,"network","keymgr cannot be reached: "+i.message)}let d=await c.text();if(!c.ok){let i=null;try{i=JSON.parse(d)}catch{}throw new G(c.status,i&&i.error,i&&i.message||d||c.statusText)}return d}async function Me(t,e,n){let o=await lt(t,e,n);return o?JSON.parse(o):null}var C=t=>Me("GET",t),I=(t,e)=>Me("POST",t,e),ct=t=>Me("DELETE",t),Z=(t,e)=>lt("GET",t,void 0,e||"*/*");function O(t){let e=new URLSearchParams;for(let[o,r]of Object.entries(t))r!=null&&r!==""&&e.set(o,String(r));let n=e.toString();return n?"?"+n:""}async function me(t,e,n=2e4,o){let r=[],s;for(;r.length<n;){let l=await C("/v1/audit/ledger"+O({keyset:t,kid:o,kind:"sign",outcome:"ok",from:e,limit:1e3,cursor:s}));if(r.push(...l.entries),l.next_cursor===null||l.next_cursor===void 0)break;s=l.next_cursor}return r}var dt=function(t,e,n,o){var r;e[0]=0;for(var s=1;s<e.length;s++){var l=e[s++],c=e[s]?(e[0]|=l?1:2,n[e[s++]]):e[++s];l===3?o[0]=c:l===4?o[1]=Object.assign(o[1]||{},c):l===5?(o[1]=o[1]||{})[e[++s]]=c:l===6?o[1][e[++s]]+=c+"":l?(r=t.apply(c,dt(t,c,n,["",null])),o.push(r),c[0]?e[0]|=2:(e[s-2]=0,e[s]=r)):o.push(c)}return o},ut=new Map;function _t(t){var e=ut.get(this);return e||(e=new Map,ut.set(this,e)),(e=dt(this,e.get(t)||(e.set(t,e=(function(n){for(var o,r,s=1,l="",c="",d=[0],i=function(a){s===1&&(a||(l=l.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?d.push(0,a,l):s===3&&(a||l)?(d.push(3,a,l),s=2):s===2&&l==="..."&&a?d.push(4,a,0):s===2&&l&&!a?d.push(5,0,!0,l):s>=5&&((l||!a&&s===5)&&(d.push(s,0,l,r),s=6),a&&(d.push(s,a,0,r),s=6)),l=""},p=0;p<n.length;p++){p&&(s===1&&i(),i(p));for(var _=0;_<n[p].length;_++)o=n[p][_],s===1?o==="<"?(i(),d=[d],s=3):l+=o:s===4?l==="--"&&o===">"?(s=1,l=""):l=o+l[0]:c?o===c?c="":l+=o:o==='"'||o==="'"?c=o:o===">"?(i(),s=1):s&&(o==="="?(s=5,r=l,l=""):o==="/"&&(s<5||n[p][_+1]===">")?(i(),s===3&&(d=d[0]),s=d,(d=d[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(i(),s=2):l+=o),s===3&&l==="!--"&&(s=4,d=d[0])}return i(),d})(t)),e),arguments,[])).length>1?e:e[0]}var u=_t.bind(xe),P=()=>Math.floor(Date.now()/1e3);function L(t){if(t==null||Number.isNaN(t))return"—";let e=t<0;t=Math.abs(Math.round(t));let n=[],o=[["d",86400],["h",3600],["m",60],["s",1]];for(let[r,s]of o)if((t>=s||r==="s"&&n.length===0)&&(n.push(Math.floor(t/s)+r),t%=s),n.length===2)break;return(e?"-":"")+n.join(" ")}function S(t){return t?new Date(t*1e3).toISOString().replace("T"," ").replace(/\.\d+Z$/,"Z"):"—"}var W=t=>t?S(Math.floor(t/1e3)):"—";function he(t){if(!t)return"—";let e=t-P();return e>=0?"in "+L(e):L(-e)+" ago"}function te(t,e,n){let o=URL.createObjectURL(new Blob([e],{type:n})),r=document.createElement("a");r.href=o,r.download=t,document.body.appendChild(r),r.click(),r.remove(),setTimeout(()=>URL.revokeObjectURL(o),1e3)}function pt(t,e){let n=o=>{let r=o==null?"":typeof o=="object"?JSON.stringify(o):String(o);return/[",\n\r]/.test(r)?'"'+r.replace(/"/g,'""')+'"':r};return[e.join(","),...t.map(o=>e.map(r=>n(o[r])).join(","))].join(`
`)+`
`}var E={act:t=>t.role==="admin"||t.role==="ops",audit:t=>t.role==="admin"||t.role==="auditor",monitor:t=>t.role==="admin"||t.role==="ops"||t.role==="auditor",admin:t=>t.role==="admin"};function Ne(t){return(t.keys||[]).find(e=>e.kid===t.active_kid)}function fe(t,e){let n=t.keys||[],o=P();if(n.some(c=>c.state==="compromised"&&c.state_changed_at>o-30*86400))return{level:"bad",text:"compromised key"};if(t.health&&t.health.overdue)return{level:"bad",text:"rotation overdue"};if(t.health&&t.health.problem)return{level:"bad",text:t.health.problem};if(e>0)return{level:"warn",text:e+(e===1?" alert":" alerts")};if(t.disabled)return{level:"warn",text:"disabled"};let r=Ne(t);if(!r)return{level:"bad",text:"no signing key"};let s=n.some(c=>c.state==="pre-activation"),l=(t.policy.prepublish||0)+(t.policy.rotation_lead||0);return!s&&r.deactivate_at-o<l?{level:"warn",text:"rotation due"}:{level:"ok",text:"OK"}}function mt(t){let e=P(),n=null,o={activate_at:"activates",deactivate_at:"stops signing",retire_at:"leaves JWKS",destroy_at:"destroyed"};for(let r of t.keys||[])if(!(r.state==="destroyed"||r.state==="compromised"))for(let s of Object.keys(o))r[s]>e&&(!n||r[s]<n.at)&&(n={at:r[s],what:`${r.kid.slice(0,8)}… ${o[s]}`});return n}function j({error:t}){if(!t)return null;let e=t.code?u`<code>${t.code}</code> `:"";return u`<div class="error" role="alert">${e}${t.message}</div>`}function Q({level:t,children:e}){return u`<span class=${"badge badge-"+t}>${e}</span>`}function K(t,e){let[n,o]=y({data:null,error:null,loading:!0}),[r,s]=y(0);return z(()=>{let l=!0;return o(c=>({...c,loading:!0})),t().then(c=>l&&o({data:c,error:null,loading:!1}),c=>l&&o({data:null,error:c,loading:!1})),()=>{l=!1}},[...e,r]),{...n,reload:()=>s(l=>l+1)}}function X({title:t,description:e,fields:n=[],reasonRequired:o=!0,confirmLabel:r,danger:s,run:l,onDone:c,onCancel:d}){let[i,p]=y(()=>Object.fromEntries(n.map(w=>[w.name,w.value||""]))),[_,a]=y(""),[m,$]=y(null),[b,h]=y(!1),v=rt(null);return z(()=>{v.current&&v.current.focus()},[]),u`
    <div class="backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-title" onKeyDown=${w=>{w.key==="Escape"&&d()}}>
        <form onSubmit=${async w=>{if(w.preventDefault(),o&&!_.trim()){$({message:"A reason is required: it is recorded in the ledger with your identity."});return}h(!0),$(null);try{let f=await l({...i,reason:_.trim()});c&&c(f)}catch(f){$(f),h(!1)}}}>
          <h2 id="dlg-title">${t}</h2>
          ${e&&u`<p>${e}</p>`}
          ${n.map(w=>u`
            <label class="field">${w.label}
              <input type=${w.type||"text"} name=${w.name} value=${i[w.name]} required=${!!w.required}
                onInput=${f=>p({...i,[w.name]:f.currentTarget.value})} />
            </label>`)}
          <label class="field">Reason${o?" (required)":""}
            <textarea name="reason" ref=${v} rows="2" value=${_} onInput=${w=>a(w.currentTarget.value)}></textarea>
          </label>
          <${j} error=${m} />
          <div class="buttons">
            <button type="button" onClick=${d}>Cancel</button>
            <button type="submit" class=${s?"danger":"primary"} disabled=${b}>${r||t}</button>
          </div>
        </form>
      </div>
    </div>`}function H({label:t,children:e}){return u`<pre class="pre" tabindex="0" aria-label=${t}>${e}</pre>`}async function Ut(t){let{keysets:e}=await C("/v1/keysets"),n=await Promise.all(e.map(l=>C("/v1/keysets/"+l.name))),o=[];if(E.monitor(t))try{o=(await C("/v1/alerts?state=open&limit=1000")).alerts||[]}catch{o=[]}let r=(P()-3600)*1e3,s={};return E.audit(t)&&await Promise.all(n.map(async l=>{s[l.name]=(await me(l.name,r,5e3)).length})),{keysets:n,alerts:o,volume:s}}function Ht({onCreated:t}){let[e,n]=y({name:"",issuer:"",alg:"ES256",sign_period:""}),[o,r]=y(null),[s,l]=y(!1),c=i=>p=>n({...e,[i]:p.currentTarget.value});return u`<form class="inline-form" onSubmit=${async i=>{i.preventDefault(),l(!0),r(null);try{let p={name:e.name.trim(),issuer:e.issuer.trim(),alg:e.alg};e.sign_period.trim()&&(p.policy={sign_period:e.sign_period.trim()});let _=await I("/v1/keysets",p);n({name:"",issuer:"",alg:"ES256",sign_period:""}),t(_)}catch(p){r(p)}l(!1)}} aria-labelledby="create-h">
    <h2 id="create-h">Create a keyset</h2>
    <label class="field">Name <input name="name" value=${e.name} onInput=${c("name")} required pattern="[a-z0-9_-]+" /></label>
    <label class="field">Issuer URL <input name="issuer" value=${e.issuer} onInput=${c("issuer")} required placeholder=${location.origin+"/name"} /></label>
    <label class="field">Algorithm <select name="alg" value=${e.alg} onChange=${c("alg")}>
      ${["ES256","ES384","RS256","PS256","EdDSA"].map(i=>u`<option value=${i}>${i}</option>`)}</select></label>
    <label class="field">Sign period (optional) <input name="sign_period" value=${e.sign_period} onInput=${c("sign_period")} placeholder="e.g. 30d" /></label>
    <button type="submit" class="primary" disabled=${s}>Create keyset</button>
    <${j} error=${o} />
  </form>`}function ht({me:t}){let{data:e,error:n,loading:o,reload:r}=K(()=>Ut(t),[t.id]);return u`<section aria-labelledby="keysets-h">
    <h1 id="keysets-h">Keysets</h1>
    <${j} error=${n} />
    ${o&&!e&&u`<p>Loading…</p>`}
    ${e&&e.keysets.length===0&&u`<p>No keyset${t.role==="issuer"?" is bound to this token":" yet"}.</p>`}
    ${e&&e.keysets.length>0&&u`<div class="scroll" tabindex="0" role="region" aria-label="keysets table"><table class="grid" data-testid="keysets">
      <thead><tr><th scope="col">keyset</th><th scope="col">issuer</th><th scope="col">algorithm</th><th scope="col">health</th>
        <th scope="col">active key age</th><th scope="col">signatures, last hour</th><th scope="col">next scheduled event</th></tr></thead>
      <tbody>${e.keysets.map(s=>{let l=Ne(s),c=e.alerts.filter(p=>p.keyset===s.name).length,d=fe(s,c),i=mt(s);return u`<tr data-keyset=${s.name}>
          <th scope="row"><a href=${"#/keysets/"+s.name}>${s.name}</a></th>
          <td><code>${s.issuer}</code></td>
          <td>${s.alg}</td>
          <td><${Q} level=${d.level}>${d.text}<//></td>
          <td>${l?L(P()-l.activate_at):"—"}</td>
          <td class="num">${E.audit(t)?e.volume[s.name]>=5e3?"5000+":e.volume[s.name]:l&&l.signatures!==void 0?l.signatures+" (total)":"—"}</td>
          <td>${i?u`${he(i.at)}: ${i.what}`:"—"}</td></tr>`})}</tbody></table></div>`}
    ${E.act(t)&&u`<${Ht} onCreated=${s=>{location.hash="#/keysets/"+s.name,r()}} />`}
  </section>`}var ft=34,J=40,$t=150,De=1e3;function Bt(t){let e=P(),n=t.keys||[],o=Math.min(e,...n.map(l=>l.created_at)),r=e+Math.max(t.policy.sign_period||3600,t.policy.verifier_cache||0)/2;for(let l of n)l.state!=="destroyed"&&(r=Math.max(r,l.retire_at||0));let s=(r-o)*.04||60;return[o-s,r+s]}function Wt(t){let e=t.state==="compromised"?t.state_changed_at:1/0;return[[t.created_at,t.activate_at,"seg-pre","pre-publication"],[t.activate_at,t.deactivate_at,"seg-sign","signing window"],[t.deactivate_at,t.retire_at,"seg-grace","verification grace"],[t.retire_at,t.destroy_at,"seg-retired","retired (not published)"]].map(([o,r,s,l])=>[o,Math.min(r,e),s,l]).filter(([o,r])=>r>o)}function yt({ks:t}){let e=[...t.keys||[]].sort((_,a)=>_.created_at-a.created_at),[n,o]=Bt(t),r=_=>$t+(Math.max(n,Math.min(o,_))-n)/(o-n)*(De-$t-10),s=P(),l=J+e.length*ft+46,c=t.policy,d=e.find(_=>_.kid===t.active_kid),i=[];for(let _=0;_<=4;_++)i.push(n+(o-n)*_/4);let p=`Key timeline of ${t.name}: ${e.length} keys; `+e.map(_=>`${_.kid} ${_.state}, signs ${S(_.activate_at)} to ${S(_.deactivate_at)}`).join("; ");return u`
    <figure class="timeline">
      <svg viewBox=${`0 0 ${De} ${l}`} role="img" aria-label=${p} data-testid="timeline">
        ${i.map((_,a)=>u`<g>
          <line class="tick" x1=${r(_)} x2=${r(_)} y1=${J-8} y2=${l-40} />
          <text class="axis" x=${r(_)} y=${l-26} text-anchor=${a===0?"start":a===4?"end":"middle"}>${S(Math.round(_)).slice(5,16)}</text></g>`)}
        ${e.map((_,a)=>{let m=J+a*ft;return u`<g class=${"lane state-"+_.state} data-kid=${_.kid}>
            <text class="kid" x="4" y=${m+17}>${_.kid.slice(0,12)}${_.kid===t.active_kid?" ★":""}</text>
            <text class="kstate" x="4" y=${m+29}>${_.state}</text>
            ${Wt(_).map(([$,b,h,v])=>u`<rect class=${h} x=${r($)} y=${m+6} width=${Math.max(1,r(b)-r($))} height="20" rx="3"><title>${v}: ${S($)} → ${S(b)}</title></rect>`)}
            ${_.compromised_since&&u`<rect class="seg-exposed" x=${r(_.compromised_since)} y=${m+2} width=${Math.max(2,r(_.state_changed_at)-r(_.compromised_since))} height="4"><title>suspected exposure since ${S(_.compromised_since)}</title></rect>`}
            ${_.state==="compromised"&&u`<g><line class="mark-compromise" x1=${r(_.state_changed_at)} x2=${r(_.state_changed_at)} y1=${m+2} y2=${m+30} /><text class="mark-text bad" x=${r(_.state_changed_at)+4} y=${m+17}>compromised</text></g>`}
            ${_.state==="suspended"&&u`<text class="mark-text warn" x=${r(_.state_changed_at)+4} y=${m+17}>suspended</text>`}
            ${_.state==="destroyed"&&u`<text class="mark-text" x=${r(_.destroy_at)+4} y=${m+17}>destroyed</text>`}
          </g>`})}
        <line class="now" x1=${r(s)} x2=${r(s)} y1=${J-16} y2=${l-40} />
        <text class="now-label" x=${r(s)} y=${J-20} text-anchor="middle">now</text>
        ${d&&d.deactivate_at>s&&u`<g>
          <line class="next" x1=${r(d.deactivate_at)} x2=${r(d.deactivate_at)} y1=${J-16} y2=${l-40} />
          <text class="next-label" x=${r(d.deactivate_at)} y=${J-26} text-anchor=${r(d.deactivate_at)>De-120?"end":"middle"}>next rotation ${S(d.deactivate_at).slice(5,16)}</text></g>`}
        <g class="policy">
          <line class="bracket" x1=${r(s)} x2=${r(s+c.verifier_cache)} y1=${l-12} y2=${l-12} />
          <text class="axis" x=${r(s)} y=${l-2}>now + verifier cache ${L(c.verifier_cache)}</text>
        </g>
      </svg>
      <figcaption>
        <span class="legend seg-pre-l">pre-publication (prepublish ${L(c.prepublish)})</span>
        <span class="legend seg-sign-l">signing window (sign period ${L(c.sign_period)})</span>
        <span class="legend seg-grace-l">verification grace (${L(c.verify_grace)})</span>
        <span class="legend seg-retired-l">retired (destroyed after ${L(c.destroy_after)})</span>
        <span class="legend">verifier cache ${L(c.verifier_cache)} · JWKS max-age ${L(c.jwks_max_age)} · max token TTL ${L(c.max_token_ttl)}</span>
      </figcaption>
    </figure>`}function gt({keys:t,entries:e,hours:n=24}){let r=P()-n*3600,s=new Map;for(let d of e){let i=Math.min(n-1,Math.floor((d.ts_ms/1e3-r)/3600));i<0||(s.has(d.kid)||s.set(d.kid,new Array(n).fill(0)),s.get(d.kid)[i]++)}let l=t.filter(d=>s.has(d.kid)||d.signatures);if(l.length===0)return u`<p>No signatures in the last ${n} hours.</p>`;let c=Math.max(1,...[...s.values()].flat());return u`<table class="grid volume">
    <caption>Signatures per key, last ${n} hours (one bar per hour)</caption>
    <thead><tr><th scope="col">key</th><th scope="col">last ${n}h</th><th scope="col">all time</th><th scope="col">last signed</th><th scope="col">per hour</th></tr></thead>
    <tbody>${l.map(d=>{let i=s.get(d.kid)||new Array(n).fill(0),p=i.reduce((_,a)=>_+a,0);return u`<tr data-kid=${d.kid}>
        <th scope="row"><code>${d.kid.slice(0,16)}</code></th>
        <td class="num" data-testid="volume-count">${p}</td>
        <td class="num">${d.signatures!==void 0?d.signatures:"—"}</td>
        <td>${d.last_signed_at?S(d.last_signed_at):"—"}</td>
        <td><svg class="spark" viewBox=${`0 0 ${n*6} 24`} role="img" aria-label=${`${p} signatures by ${d.kid} in the last ${n} hours`}>
          ${i.map((_,a)=>_>0&&u`<rect class="bar" x=${a*6} y=${24-Math.max(2,_/c*24)} width="5" height=${Math.max(2,_/c*24)}><title>${_}</title></rect>`)}
        </svg></td></tr>`})}</tbody></table>`}var vt=t=>t?Math.floor(new Date(t).getTime()/1e3):void 0,bt=t=>new Date((t-new Date().getTimezoneOffset()*60)*1e3).toISOString().slice(0,16);function Jt(t){let e="/v1/keysets/"+t.name;return{rotate:{title:"Rotate now",description:`The pre-published successor of ${t.name} starts signing now (or a new key is made).`,run:n=>I(e+"/rotate",{reason:n.reason})},emergency:{title:"Emergency rotate",danger:!0,description:"A new key is generated and signs at once, without pre-publication: verifiers that cached the JWKS will reject its tokens until they refetch.",run:n=>I(e+"/emergency-rotate",{reason:n.reason})},suspend:n=>({title:"Suspend key",description:`Key ${n.kid} stops signing; it stays in the JWKS.`,run:o=>I(`${e}/keys/${n.kid}/suspend`,{reason:o.reason})}),resume:n=>({title:"Resume key",description:`Key ${n.kid} signs again.`,run:o=>I(`${e}/keys/${n.kid}/resume`,{reason:o.reason})}),compromise:n=>({title:"Mark key compromised",danger:!0,description:`Key ${n.kid} leaves the JWKS at once (tokens it signed no longer verify) and a successor signs.`,fields:[{name:"since",label:"Suspected since",type:"datetime-local",value:bt(n.activate_at)}],run:o=>I(`${e}/keys/${n.kid}/compromise`,{reason:o.reason,suspected_since:vt(o.since)})}),extend:n=>({title:"Extend signing window",description:`Key ${n.kid} signs until the given time.`,fields:[{name:"until",label:"Sign until",type:"datetime-local",required:!0,value:bt(Math.max(n.deactivate_at,P())+86400)}],run:o=>I(`${e}/keys/${n.kid}/extend`,{reason:o.reason,until:vt(o.until)})})}}async function Ft(t,e){let n=await C("/v1/keysets/"+t),o=null;try{o=JSON.parse(await Z(`/v1/keysets/${t}/jwks.json`,"application/json"))}catch{o=null}let r=null;return E.audit(e)&&(r=await me(t,(P()-86400)*1e3)),{ks:n,jwks:o,entries:r}}function kt({me:t,name:e}){let{data:n,error:o,reload:r}=K(()=>Ft(e,t),[e,t.id]),[s,l]=y(null),[c,d]=y("");if(o)return u`<section><h1>Keyset ${e}</h1><${j} error=${o} /></section>`;if(!n)return u`<section><h1>Keyset ${e}</h1><p>Loading…</p></section>`;let{ks:i,jwks:p,entries:_}=n,a=Jt(i),m=fe(i,0),$=(h,v)=>l({...h,onDone:()=>{l(null),d(v+" done"),r()}}),b=E.act(t);return u`<section aria-labelledby="ks-h">
    <h1 id="ks-h">Keyset ${i.name} <${Q} level=${m.level}>${m.text}<//></h1>
    <p class="meta">issuer <code>${i.issuer}</code> · ${i.alg} · JWKS <a href=${new URL(i.jwks_uri).pathname}>${i.jwks_uri}</a>
      ${i.health.last_error&&u` · last error: ${i.health.last_error}`}</p>
    ${c&&u`<p class="notice" role="status">${c}</p>`}
    ${b&&u`<div class="toolbar" aria-label="keyset actions">
      <button type="button" onClick=${()=>$(a.rotate,"Rotation")}>Rotate now…</button>
      <button type="button" class="danger" onClick=${()=>$(a.emergency,"Emergency rotation")}>Emergency rotate…</button>
      <a class="button" href=${"#/compromise/"+i.name}>Compromise response…</a>
    </div>`}
    <h2>Key timeline</h2>
    <${yt} ks=${i} />
    <h2>Keys</h2>
    <div class="scroll" tabindex="0" role="region" aria-label="keys table"><table class="grid" data-testid="keys">
      <thead><tr><th scope="col">kid</th><th scope="col">state</th><th scope="col">created</th><th scope="col">signs from</th><th scope="col">signs until</th>
        <th scope="col">leaves JWKS</th><th scope="col">destroyed</th><th scope="col">signatures</th>${b&&u`<th scope="col">actions</th>`}</tr></thead>
      <tbody>${[...i.keys].reverse().map(h=>u`<tr data-kid=${h.kid} class=${"state-"+h.state}>
        <th scope="row"><code>${h.kid}</code>${h.kid===i.active_kid?" (signing)":""}${h.emergency?" (emergency)":""}</th>
        <td>${h.state}${h.compromised_since?u`<br /><small>suspected since ${S(h.compromised_since)}</small>`:""}</td>
        <td>${S(h.created_at)}</td><td>${S(h.activate_at)}</td><td>${S(h.deactivate_at)} <small>(${he(h.deactivate_at)})</small></td>
        <td>${S(h.retire_at)}</td><td>${S(h.destroy_at)}</td>
        <td class="num">${h.signatures!==void 0?h.signatures:"—"}${h.last_signed_at?u`<br /><small>last ${S(h.last_signed_at)}</small>`:""}</td>
        ${b&&u`<td class="actions">
          ${h.state==="active"&&u`<button type="button" onClick=${()=>$(a.suspend(h),"Suspension")}>Suspend…</button>`}
          ${h.state==="suspended"&&u`<button type="button" onClick=${()=>$(a.resume(h),"Resume")}>Resume…</button>`}
          ${["active","deactivated","retired"].includes(h.state)&&u`<button type="button" onClick=${()=>$(a.extend(h),"Extension")}>Extend…</button>`}
          ${["pre-activation","active","suspended","deactivated","retired"].includes(h.state)&&u`<button type="button" class="danger" onClick=${()=>$(a.compromise(h),"Compromise")}>Compromise…</button>`}
        </td>`}
      </tr>`)}</tbody></table></div>
    <h2>Signing volume</h2>
    ${_?u`<${gt} keys=${i.keys} entries=${_} />`:u`<p>The signing volume comes from the ledger: it needs an auditor or admin token.${i.keys.some(h=>h.signatures!==void 0)?" Totals per key are in the keys table.":""}</p>`}
    <h2>Policy</h2>
    <dl class="policy-list">${Object.entries(i.policy).map(([h,v])=>u`<div><dt>${h}</dt><dd>${/^sign_(rate|burst)$/.test(h)?v:L(v)}</dd></div>`)}</dl>
    <h2>JWKS as verifiers see it</h2>
    ${p?u`<p>${p.keys.length} keys published: ${p.keys.map(h=>u`<code class="kid-chip">${h.kid}</code> `)}</p>
      <${H} label="JWKS document">${JSON.stringify(p,null,2)}<//>`:u`<p>The JWKS could not be read.</p>`}
    ${s&&u`<${X} ...${s} onCancel=${()=>l(null)} />`}
  </section>`}var Ie=["keyset","kid","sub","jti","actor","outcome","kind"],xt=t=>t?new Date(t).getTime():void 0;function Vt({e:t,onClose:e}){let{data:n,error:o}=K(()=>C("/v1/audit/proof?seq="+t.seq),[t.seq]);return u`<section class="panel" aria-labelledby="entry-h" data-testid="entry-detail">
    <h2 id="entry-h">Ledger entry ${t.seq} <button type="button" onClick=${e}>Close</button></h2>
    <${H} label="ledger entry">${JSON.stringify(t,null,2)}<//>
    <h3>Inclusion proof</h3>
    ${o&&u`<p>No proof yet: <${j} error=${o} /></p>`}
    ${n&&u`<p>Leaf ${n.index} of a tree of ${n.tree_size} entries; ${n.path.length} hashes on the audit path.</p>
      <${H} label="inclusion proof">${n.proof}<//>
      <h3>Checkpoint</h3><${H} label="checkpoint">${n.checkpoint}<//>`}
  </section>`}function wt({params:t}){let[e,n]=y(()=>Object.fromEntries([...Ie,"from","to"].map(f=>[f,t.get(f)||""]))),[o,r]=y(e),[s,l]=y([void 0]),[c,d]=y(null),[i,p]=y(null),[_,a]=y(null),m={...Object.fromEntries(Ie.map(f=>[f,o[f]])),from:xt(o.from),to:xt(o.to)},$=s[s.length-1],{data:b,error:h,loading:v}=K(()=>C("/v1/audit/ledger"+O({...m,limit:50,cursor:$})),[JSON.stringify(m),$]),g=f=>{f.preventDefault(),r(e),l([void 0]),d(null)},N=async f=>{a(null);try{let D=await Z("/v1/audit/export"+O({...m,format:f}));te("ledger."+(f==="csv"?"csv":"ndjson"),D,f==="csv"?"text/csv":"application/x-ndjson")}catch(D){a(D)}},w=async()=>{p({running:!0});try{p({result:await C("/v1/audit/verify")})}catch(f){p({error:f})}};return u`<section aria-labelledby="ledger-h">
    <h1 id="ledger-h">Ledger</h1>
    <form class="filters" onSubmit=${g} aria-label="ledger filters">
      ${Ie.map(f=>u`<label class="field">${f==="actor"?"caller":f} <input name=${f} value=${e[f]} onInput=${D=>n({...e,[f]:D.currentTarget.value})} /></label>`)}
      <label class="field">from <input type="datetime-local" name="from" value=${e.from} onInput=${f=>n({...e,from:f.currentTarget.value})} /></label>
      <label class="field">to <input type="datetime-local" name="to" value=${e.to} onInput=${f=>n({...e,to:f.currentTarget.value})} /></label>
      <button type="submit" class="primary">Apply filters</button>
    </form>
    <div class="toolbar">
      <button type="button" onClick=${()=>N("ndjson")}>Export NDJSON</button>
      <button type="button" onClick=${()=>N("csv")}>Export CSV</button>
      <button type="button" onClick=${w}>Verify ledger</button>
    </div>
    <${j} error=${_||h} />
    ${i&&u`<div class=${"verify "+(i.result?i.result.ok?"ok":"bad":"")} role="status" data-testid="verify-result">
      ${i.running&&"Verifying the whole ledger…"}
      ${i.error&&u`<${j} error=${i.error} />`}
      ${i.result&&u`<strong>${i.result.ok?"Ledger verified":"Ledger verification FAILED"}</strong>: ${i.result.entries} entries, tree size ${i.result.tree_size}, ${i.result.checkpoints_checked}/${i.result.checkpoints} checkpoints checked${i.result.problem?" — "+i.result.problem:""}`}
    </div>`}
    ${c&&u`<${Vt} e=${c} onClose=${()=>d(null)} />`}
    ${v&&!b&&u`<p>Loading…</p>`}
    ${b&&u`<div class="scroll" tabindex="0" role="region" aria-label="ledger entries"><table class="grid" data-testid="ledger">
      <thead><tr><th scope="col">seq</th><th scope="col">time (UTC)</th><th scope="col">kind</th><th scope="col">event</th><th scope="col">keyset</th><th scope="col">kid</th>
        <th scope="col">caller</th><th scope="col">outcome</th><th scope="col">sub / jti</th><th scope="col">reason</th></tr></thead>
      <tbody>${b.entries.map(f=>u`<tr class=${c&&c.seq===f.seq?"selected":""}>
        <th scope="row"><button type="button" class="link" onClick=${()=>d(f)} aria-label=${"details of entry "+f.seq}>${f.seq}</button></th>
        <td>${W(f.ts_ms)}</td><td>${f.kind}</td><td>${f.event}</td><td>${f.keyset}</td><td><code>${(f.kid||"").slice(0,12)}</code></td>
        <td>${f.actor}</td><td>${f.outcome}</td><td>${f.sub||""}${f.jti?u` <small>${f.jti.slice(0,12)}</small>`:""}</td><td>${f.reason}</td></tr>`)}
      </tbody></table></div>
      <nav class="pager" aria-label="ledger pages">
        <button type="button" disabled=${s.length===1} onClick=${()=>l(s.slice(0,-1))}>← Newer</button>
        <span>page ${s.length}</span>
        <button type="button" disabled=${b.next_cursor===null} onClick=${()=>l([...s,b.next_cursor])}>Older →</button>
      </nav>`}
  </section>`}var zt=["seq","ts_ms","kid","jti","sub","aud","iat","exp","token_sha256","actor"];function Gt({me:t,name:e,kid:n,since:o,before:r}){let{data:s,error:l}=K(async()=>{let a=await C("/v1/keysets/"+e),m=JSON.parse(await Z(`/v1/keysets/${e}/jwks.json`,"application/json")),$=null,b=null;return E.audit(t)&&($=await C("/v1/audit/affected"+O({kid:n,since:o})),b=(await C("/v1/audit/ledger"+O({keyset:e,limit:10}))).entries),{ks:a,jwks:m,affected:$,entries:b}},[e,n]);if(l)return u`<${j} error=${l} />`;if(!s)return u`<p>Reading the outcome…</p>`;let{ks:c,jwks:d,affected:i,entries:p}=s,_=d.keys.some(a=>a.kid===n);return u`<section class="panel" aria-labelledby="outcome-h" data-testid="compromise-outcome">
    <h2 id="outcome-h">What happened</h2>
    <ol class="steps">
      <li class=${_?"bad":"ok"}>Key <code>${n}</code> ${_?"is STILL in the JWKS":"was removed from the JWKS"} (${d.keys.length} ${d.keys.length===1?"key":"keys"} published now).</li>
      <li class=${c.active_kid&&c.active_kid!==n?"ok":"bad"}>${c.active_kid?u`Successor <code>${c.active_kid}</code> signs${r&&r!==c.active_kid&&r!==n,""}.`:"No key signs: rotate or investigate."}</li>
      <li>Tokens signed by the key since ${S(o)} that are still valid: ${i?u`<strong data-testid="affected-count">${i.count}</strong>`:"needs an auditor or admin token to list"}.</li>
    </ol>
    ${i&&i.count>0&&u`
      <div class="toolbar">
        <button type="button" onClick=${()=>te(`affected-${n}.csv`,pt(i.tokens,zt),"text/csv")}>Export CSV</button>
        <button type="button" onClick=${()=>te(`affected-${n}.ndjson`,i.tokens.map(a=>JSON.stringify(a)).join(`
`)+`
`,"application/x-ndjson")}>Export NDJSON</button>
      </div>
      <div class="scroll" tabindex="0" role="region" aria-label="affected tokens"><table class="grid" data-testid="affected">
        <thead><tr><th scope="col">seq</th><th scope="col">signed (UTC)</th><th scope="col">sub</th><th scope="col">jti</th><th scope="col">expires (UTC)</th><th scope="col">caller</th></tr></thead>
        <tbody>${i.tokens.slice(0,200).map(a=>u`<tr><th scope="row">${a.seq}</th><td>${W(a.ts_ms)}</td><td>${a.sub}</td><td><code>${a.jti}</code></td><td>${S(a.exp)}</td><td>${a.actor}</td></tr>`)}</tbody>
      </table></div>${i.count>200&&u`<p>First 200 of ${i.count}; the export has all.</p>`}`}
    ${p&&u`<h3>Recorded in the ledger</h3>
      <${H} label="latest ledger entries of the keyset">${p.map(a=>`#${a.seq} ${W(a.ts_ms)} ${a.kind}/${a.event} kid=${a.kid} by ${a.actor} ${a.outcome}${a.reason?" — "+a.reason:""}`).join(`
`)}<//>`}
    <p><a href=${"#/keysets/"+e}>See the keyset's timeline</a></p>
  </section>`}function St({me:t,name:e}){let{data:n,error:o}=K(()=>C("/v1/keysets"),[t.id]),[r,s]=y(e||""),l=K(()=>r?C("/v1/keysets/"+r):Promise.resolve(null),[r]),[c,d]=y(""),[i,p]=y(""),[_,a]=y(""),[m,$]=y(!1),[b,h]=y(!1),[v,g]=y(null),[N,w]=y(null);if(!E.act(t))return u`<section><h1>Compromise response</h1><p>Marking a key compromised needs an ops or admin token.</p></section>`;let f=l.data?l.data.keys.filter(k=>!["compromised","destroyed"].includes(k.state)):[],D=f.find(k=>k.kid===c);return u`<section aria-labelledby="cmp-h">
    <h1 id="cmp-h">Compromise response</h1>
    <${j} error=${o} />
    ${!N&&u`<form class="steps-form" onSubmit=${async k=>{if(k.preventDefault(),g(null),!_.trim()){g({message:"A reason is required: it is recorded in the ledger with your identity."});return}if(!m){g({message:"Tick the confirmation first."});return}let F=i?Math.floor(new Date(i).getTime()/1e3):D.activate_at;h(!0);try{await I(`/v1/keysets/${r}/keys/${c}/compromise`,{reason:_.trim(),suspected_since:F}),w({name:r,kid:c,since:F,before:l.data.active_kid})}catch(A){g(A)}h(!1)}}>
      <fieldset><legend>1. Choose the key</legend>
        <label class="field">Keyset <select name="keyset" value=${r} onChange=${k=>{s(k.currentTarget.value),d("")}}>
          <option value="">— choose —</option>
          ${n&&n.keysets.map(k=>u`<option value=${k.name}>${k.name}</option>`)}</select></label>
        <label class="field">Key <select name="kid" value=${c} onChange=${k=>d(k.currentTarget.value)} disabled=${!r}>
          <option value="">— choose —</option>
          ${f.map(k=>u`<option value=${k.kid}>${k.kid} (${k.state})</option>`)}</select></label>
      </fieldset>
      <fieldset disabled=${!D}><legend>2. Describe the compromise</legend>
        <label class="field">Reason (required) <input name="reason" value=${_} onInput=${k=>a(k.currentTarget.value)} /></label>
        <label class="field">Suspected since (default: the key's first signature, ${D?S(D.activate_at):"—"}) <input type="datetime-local" name="since" value=${i} max=${new Date((P()+60)*1e3).toISOString().slice(0,16)} onInput=${k=>p(k.currentTarget.value)} /></label>
      </fieldset>
      <fieldset disabled=${!D}><legend>3. Confirm</legend>
        <label class="check"><input type="checkbox" name="confirm" checked=${m} onChange=${k=>$(k.currentTarget.checked)} />
          I understand: the key leaves the JWKS now, every token it signed stops verifying, and a successor signs.</label>
        <button type="submit" class="danger" disabled=${b||!D}>Mark ${c?c.slice(0,12):"key"} compromised</button>
      </fieldset>
      <${j} error=${v} />
    </form>`}
    ${N&&u`<${Gt} me=${t} ...${N} />`}
  </section>`}function Ct({me:t}){let[e,n]=y("open"),{data:o,error:r,reload:s}=K(()=>C("/v1/alerts"+O({state:e,limit:200})),[e]),[l,c]=y(null),d=i=>i==="critical"?"bad":i==="warning"?"warn":"ok";return u`<section aria-labelledby="alerts-h">
    <h1 id="alerts-h">Alerts</h1>
    <label class="field">Show <select name="state" value=${e} onChange=${i=>n(i.currentTarget.value)}>
      <option value="open">open</option><option value="acknowledged">acknowledged</option><option value="all">all</option></select></label>
    <${j} error=${r} />
    ${o&&o.alerts.length===0&&u`<p>No ${e==="all"?"":e+" "}alerts.</p>`}
    ${o&&o.alerts.length>0&&u`<div class="scroll" tabindex="0" role="region" aria-label="alerts"><table class="grid" data-testid="alerts">
      <thead><tr><th scope="col">raised (UTC)</th><th scope="col">severity</th><th scope="col">kind</th><th scope="col">keyset / key</th><th scope="col">summary</th><th scope="col">seen</th><th scope="col">state</th></tr></thead>
      <tbody>${o.alerts.map(i=>u`<tr>
        <td>${W(i.raised_at_ms)}</td><td><${Q} level=${d(i.severity)}>${i.severity}<//></td><td>${i.kind}</td>
        <td><a href=${"#/keysets/"+i.keyset}>${i.keyset}</a> <code>${(i.kid||"").slice(0,12)}</code></td><td>${i.summary}</td><td class="num">${i.occurrences}</td>
        <td>${i.acknowledged?u`acknowledged by ${i.acknowledgement.by}: ${i.acknowledgement.reason}`:E.act(t)?u`<button type="button" onClick=${()=>c({title:"Acknowledge alert",description:i.summary,run:p=>I(`/v1/alerts/${i.id}/ack`,{reason:p.reason}),onDone:()=>{c(null),s()}})}>Acknowledge…</button>`:"open"}</td></tr>`)}
      </tbody></table></div>`}
    ${l&&u`<${X} ...${l} onCancel=${()=>c(null)} />`}
  </section>`}function Tt(){let{data:t,error:e,reload:n}=K(()=>C("/v1/tokens"),[]),[o,r]=y({name:"",role:"issuer",keysets:""}),[s,l]=y(null),[c,d]=y(null),[i,p]=y(null);return u`<section aria-labelledby="tokens-h">
    <h1 id="tokens-h">API tokens</h1>
    <form class="inline-form" onSubmit=${async a=>{a.preventDefault(),d(null);try{let m=o.keysets.split(",").map($=>$.trim()).filter(Boolean);l(await I("/v1/tokens",{name:o.name.trim(),role:o.role,keysets:m})),r({name:"",role:"issuer",keysets:""}),n()}catch(m){d(m)}}} aria-labelledby="newtok-h">
      <h2 id="newtok-h">Create a token</h2>
      <label class="field">Name <input name="name" required value=${o.name} onInput=${a=>r({...o,name:a.currentTarget.value})} /></label>
      <label class="field">Role <select name="role" value=${o.role} onChange=${a=>r({...o,role:a.currentTarget.value})}>
        ${["issuer","auditor","ops","admin","verifier"].map(a=>u`<option value=${a}>${a}</option>`)}</select></label>
      <label class="field">Keysets (issuer; comma-separated) <input name="keysets" value=${o.keysets} onInput=${a=>r({...o,keysets:a.currentTarget.value})} /></label>
      <button type="submit" class="primary">Create token</button>
      <${j} error=${c} />
    </form>
    ${s&&u`<div class="secret" role="status" data-testid="new-token">
      <p><strong>Token "${s.name}" (${s.role}) created.</strong> Copy it now: it is shown once and keymgr keeps only its hash.</p>
      <label class="field">Secret <input readonly name="secret" value=${s.token} onFocus=${a=>a.currentTarget.select()} /></label>
      <button type="button" onClick=${()=>l(null)}>I have copied it</button></div>`}
    <${j} error=${e} />
    ${t&&u`<div class="scroll" tabindex="0" role="region" aria-label="API tokens"><table class="grid" data-testid="tokens">
      <thead><tr><th scope="col">name</th><th scope="col">id</th><th scope="col">role</th><th scope="col">keysets</th><th scope="col">created (UTC)</th><th scope="col">state</th></tr></thead>
      <tbody>${t.tokens.map(a=>u`<tr data-token=${a.name}>
        <th scope="row">${a.name}</th><td><code>${a.id}</code></td><td>${a.role}</td><td>${a.keysets.join(", ")}</td><td>${S(a.created_at)}</td>
        <td>${a.revoked_at?"revoked "+S(a.revoked_at):u`<button type="button" class="danger" onClick=${()=>p({title:"Revoke token",danger:!0,reasonRequired:!1,description:`Token "${a.name}" stops working at once.`,run:()=>ct("/v1/tokens/"+a.id),onDone:()=>{p(null),n()}})}>Revoke…</button>`}</td></tr>`)}
      </tbody></table></div>`}
    ${i&&u`<${X} ...${i} onCancel=${()=>p(null)} />`}
  </section>`}function Zt(){let[t,e]=y(location.hash);return z(()=>{let n=()=>e(location.hash);return addEventListener("hashchange",n),()=>removeEventListener("hashchange",n)},[]),t}function Qt({onSignedIn:t,error:e}){let[n,o]=y(""),[r,s]=y(e),[l,c]=y(!1);return u`<main id="main" class="signin">
    <h1>keymgr console</h1>
    <form onSubmit=${async i=>{i.preventDefault(),c(!0),s(null),U.set(n.trim());try{t(await C("/v1/whoami"))}catch(p){U.clear(),s(p),c(!1)}}} aria-labelledby="signin-h">
      <h2 id="signin-h">Sign in</h2>
      <p>Paste an API token (<code>km_…</code>). It is kept in this tab only (sessionStorage) until you sign out or close the tab.</p>
      <label class="field">API token <input type="password" name="token" autocomplete="off" spellcheck="false" required value=${n} onInput=${i=>o(i.currentTarget.value)} /></label>
      <button type="submit" class="primary" disabled=${l}>Sign in</button>
      <${j} error=${r} />
    </form>
  </main>`}function Xt(t){let[e,n]=t.replace(/^#/,"").split("?");return{parts:e.split("/").filter(Boolean),params:new URLSearchParams(n||"")}}function Yt({me:t,current:e,onSignOut:n}){let o=[["keysets","Keysets",!0],["ledger","Ledger",E.audit(t)],["compromise","Compromise response",E.act(t)],["alerts","Alerts",E.monitor(t)],["tokens","API tokens",E.admin(t)]];return u`<header class="top">
    <a class="brand" href="#/keysets">keymgr</a>
    <nav aria-label="screens"><ul>${o.filter(r=>r[2]).map(([r,s])=>u`<li>
      <a href=${"#/"+r} aria-current=${e===r?"page":void 0}>${s}</a></li>`)}</ul></nav>
    <span class="who" data-testid="who">${t.name} <span class="role">${t.role}</span></span>
    <button type="button" onClick=${n}>Sign out</button>
  </header>`}function en(){let t=Zt(),[e,n]=y(null),[o,r]=y(null),[s,l]=y(!!U.token());z(()=>{U.token()&&C("/v1/whoami").then(n,a=>{a instanceof G&&a.status===401&&U.clear(),r(a)}).finally(()=>l(!1))},[]);let c=()=>{U.clear(),n(null),r(null),location.hash=""};if(s)return u`<main id="main"><p>Signing in…</p></main>`;if(!e)return u`<${Qt} error=${o} onSignedIn=${a=>{n(a),location.hash||(location.hash="#/keysets")}} />`;let{parts:d,params:i}=Xt(t),p=d[0]||"keysets",_;return p==="keysets"&&d[1]?_=u`<${kt} me=${e} name=${d[1]} key=${d[1]} />`:p==="ledger"&&E.audit(e)?_=u`<${wt} me=${e} params=${i} />`:p==="compromise"?_=u`<${St} me=${e} name=${d[1]} key=${d[1]||""} />`:p==="alerts"&&E.monitor(e)?_=u`<${Ct} me=${e} />`:p==="tokens"&&E.admin(e)?_=u`<${Tt} me=${e} />`:_=u`<${ht} me=${e} />`,u`<${Yt} me=${e} current=${p} onSignOut=${c} />
    <main id="main">${_}</main>
    <footer class="foot">Signed in as ${e.name} (${e.role})${e.keysets.length?" for "+e.keysets.join(", "):""}. Every action is recorded in the ledger under this token.</footer>`}var Et=document.getElementById("app");Et.textContent="";Ge(u`<${en} />`,Et);
